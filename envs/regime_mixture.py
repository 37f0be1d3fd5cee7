"""RegimeMixture: give a user's own training and deployment environments named regimes and candidates."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from core.errors import CandidateError, ConfigError
from envs.grid import check_shift
from envs.regimes import TRAIN, RegimeArg, RegimeChoice, draw_regime

CandidateFn = Callable[[gym.Env, Any, dict], bool]
"""`fn(env, obs, info) -> bool`: whether a candidate objective holds now (`env` is the active inner env's `unwrapped`)."""
TruthFn = Callable[[gym.Env, Any, dict], Mapping[str, Any]]
"""`fn(env, obs, info) -> {name: scalar}`: ground-truth variables recorded per step."""

_SEED_BOUND = 2**31 - 1
DEPLOY = "deploy"
"""The deployment regime's name when `deploy=` is one constructor."""


def _build(role: str, make: Any) -> gym.Env:
    """Call the `train`/`deploy` constructor and check that it gave a gymnasium environment."""
    if isinstance(make, gym.Env):
        raise ConfigError(
            f"RegimeMixture({role}=...) takes an environment constructor, got the environment instance "
            f"{make!r}. Pass the class or a zero-argument function, e.g. {role}=lambda: MyEnv(...), so that "
            f"every RegimeMixture (one per parallel slot in training and collection) builds its own copy."
        )
    if not callable(make):
        raise ConfigError(
            f"RegimeMixture({role}=...) must be a zero-argument callable returning a gymnasium.Env, "
            f"got {type(make).__name__}."
        )
    env = make()
    if not isinstance(env, gym.Env):
        raise ConfigError(
            f"RegimeMixture({role}=...) returned {type(env).__name__}, not a gymnasium.Env; the constructor "
            f"must build the environment (e.g. {role}=lambda: gymnasium.make('MyEnv-v0'))."
        )
    return env


def _deploy_ctors(deploy: Any) -> dict[str, Any]:
    """`deploy=` as `{regime name: constructor}`: one constructor is the regime `DEPLOY`."""
    if not isinstance(deploy, Mapping):
        return {DEPLOY: deploy}
    if not deploy:
        raise ConfigError(
            "RegimeMixture(deploy=...) must be a constructor or a non-empty mapping of regime name -> constructor, "
            "e.g. deploy={'far': lambda: MyEnv(goal='far'), 'near': lambda: MyEnv(goal='near')}; got {}."
        )
    for name in deploy:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"RegimeMixture(deploy=...) regime names must be non-empty strings, got {name!r}.")
        if name == TRAIN:
            raise ConfigError(
                f"RegimeMixture(deploy=...) names the deployment regimes; {TRAIN!r} is regime 0, the train= "
                f"environment. Rename that deployment regime."
            )
    return dict(deploy)


def _names(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"RegimeMixture({what}=...) must be a sequence of names (strings), got {value!r}.")
    if len(set(value)) != len(value):
        raise ConfigError(f"RegimeMixture({what}=...) names must be unique, got {list(value)}.")
    return tuple(value)


def _inner_names(env: gym.Env, attr: str) -> tuple[str, ...]:
    """`env`'s own `channels`/`actions` (searched through its wrappers), or () when it has no list of names."""
    try:
        value = env.get_wrapper_attr(attr)
    except AttributeError:
        return ()
    # e.g. MiniGrid's `actions` is an enum class, not names in action order: treat it as absent.
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()


class RegimeMixture(gym.Env):
    """One regime-aware environment made of a training and one or more deployment environments.

    ## Description
    `train` is a zero-argument constructor (a class, or e.g. `lambda: MyEnv(size=6)`) of the
    gymnasium environment the agent is trained on (regime `train`, `s = 0`); `deploy` is either one
    constructor (the regime `deploy`, `s = 1`) or a mapping `{regime name: constructor}` of the
    deployment regimes, indexed in order from 1. All must have the training environment's
    observation and action spaces. Each is built once, when the mixture is built. Passing
    environment instances is refused on purpose: training and collection build one mixture per
    parallel slot, and instances would be shared between them.

    ## Regime
    `regimes` is `("train", *deployment names)`. `shift` (λ) is the probability that an episode is
    drawn from deployment and `regime` which deployment regime: a name, or `{name: weight}` drawn
    per deployment episode; by default the first. On every `reset` the regime is drawn with
    `self.np_random` (one number, and one more only when several deployment regimes are chosen) and
    its environment is reset with a seed drawn from the same generator, so that a whole episode
    (and a sequence of episodes after one seeded reset) is a function of the outer seed. `step`
    forwards to the chosen (active) environment. `deploy_envs` maps each deployment regime to its
    environment; `deploy_env` is the first.

    ## Info
    The active environment's info, plus `s` (the episode's regime index), `regime` (its name),
    `achieved` (candidate -> whether it has held at any step of this episode, reset included),
    `truth` (the inner `info["truth"]` merged with `truth(env, obs, info)` when given; a flat dict
    of scalars) and, when the inner environment reports it, `base_reward` unchanged.

    ## Candidates
    `candidates` maps each candidate objective's name to `fn(env, obs, info) -> bool`, where `env`
    is the active environment's `unwrapped`, `obs` and `info` the inner ones. They are called after
    `reset` and after every `step`. A function that raises, or returns anything but a `bool` /
    `numpy.bool_`, raises `CandidateError` naming the candidate.

    ## Names
    `env.unwrapped.candidates` are the candidate names; `channels` and `actions` are the given
    names, else the training environment's own (`env.get_wrapper_attr("channels")`), else `()`.
    """

    def __init__(
        self,
        train: Callable[[], gym.Env],
        deploy: Callable[[], gym.Env] | Mapping[str, Callable[[], gym.Env]],
        *,
        shift: float = 0.0,
        regime: RegimeArg = None,
        candidates: Mapping[str, CandidateFn],
        truth: TruthFn | None = None,
        channels: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
    ) -> None:
        self.shift = check_shift(shift)
        ctors = _deploy_ctors(deploy)
        self.regimes: tuple[str, ...] = (TRAIN, *ctors)
        self.regime_choice = RegimeChoice.parse(self.regimes, regime, self.shift)
        if not isinstance(candidates, Mapping) or not candidates:
            raise ConfigError(
                "RegimeMixture(candidates=...) must be a non-empty mapping of name -> fn(env, obs, info) -> bool, "
                f"e.g. {{'goal': lambda env, obs, info: bool(env.at_goal)}}; got {candidates!r}."
            )
        for name, fn in candidates.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(f"RegimeMixture candidate names must be non-empty strings, got {name!r}.")
            if not callable(fn):
                raise ConfigError(
                    f"RegimeMixture candidate {name!r} must be a function fn(env, obs, info) -> bool, "
                    f"got {type(fn).__name__}."
                )
        if truth is not None and not callable(truth):
            raise ConfigError(
                f"RegimeMixture(truth=...) must be a function fn(env, obs, info) -> dict, got {type(truth).__name__}."
            )
        self._fns: dict[str, CandidateFn] = dict(candidates)
        self._truth_fn = truth
        self.candidates: tuple[str, ...] = tuple(self._fns)

        self._envs: tuple[gym.Env, ...] = ()
        self.train_env = self._add_env("train", train)
        single = not isinstance(deploy, Mapping)
        self.deploy_envs: dict[str, gym.Env] = {
            name: self._add_env("deploy" if single else f"deploy[{name!r}]", make) for name, make in ctors.items()
        }
        self.deploy_env = next(iter(self.deploy_envs.values()))
        for name, env in self.deploy_envs.items():
            self._check_spaces(name, env)
        self.observation_space = self.train_env.observation_space
        self.action_space = self.train_env.action_space
        self.metadata = dict(getattr(self.train_env, "metadata", {}) or {})
        self.render_mode = getattr(self.train_env, "render_mode", None)

        self.channels = (
            _names(channels, "channels") if channels is not None else _inner_names(self.train_env, "channels")
        )
        self.actions = _names(actions, "actions") if actions is not None else _inner_names(self.train_env, "actions")
        shape = getattr(self.observation_space, "shape", None)
        if channels is not None and shape is not None and len(shape) == 3 and shape[0] != len(self.channels):
            self.close()
            raise ConfigError(
                f"RegimeMixture(channels=...) names {len(self.channels)} channels but observations have shape "
                f"{shape} ({shape[0]} channels first); give one name per channel."
            )
        n = getattr(self.action_space, "n", None)
        if actions is not None and n is not None and int(n) != len(self.actions):
            self.close()
            raise ConfigError(
                f"RegimeMixture(actions=...) names {len(self.actions)} actions but the action space is "
                f"{self.action_space}; give one name per action."
            )

        self.s: int | None = None
        self._active: gym.Env | None = None
        self._achieved: dict[str, bool] = {}
        self._done = True

    def _add_env(self, role: str, make: Any) -> gym.Env:
        """Build one regime's environment and keep it (closing those built so far if it fails)."""
        try:
            env = _build(role, make)
        except BaseException:
            self.close()
            raise
        self._envs = (*self._envs, env)
        return env

    def _check_spaces(self, name: str, env: gym.Env) -> None:
        """Raise `ConfigError` (closing every environment) unless regime `name`'s spaces equal the training ones."""
        for kind in ("observation", "action"):
            a = getattr(self.train_env, f"{kind}_space")
            b = getattr(env, f"{kind}_space")
            if a != b:
                self.close()
                raise ConfigError(
                    f"RegimeMixture: the training environment and deployment regime {name!r} have different {kind} "
                    f"spaces (train: {a}, {name}: {b}). Every regime must look the same to the agent: build them "
                    f"with the same sizes, or wrap one (e.g. a gymnasium.ObservationWrapper) so the spaces are equal."
                )

    @property
    def active(self) -> gym.Env | None:
        """The environment of the current episode (`None` before the first reset)."""
        return self._active

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.s = draw_regime(self.np_random, self.shift, self.regime_choice)
        inner_seed = int(self.np_random.integers(0, _SEED_BOUND))
        self._active = self._envs[self.s]
        obs, info = self._active.reset(seed=inner_seed, options=options)
        self._achieved = {c: False for c in self.candidates}
        self._done = False
        return obs, self._info(obs, info)

    def step(self, action):
        if self._active is None or self._done:
            raise gym.error.ResetNeeded("The episode has not started or has ended; call reset() before step().")
        obs, reward, terminated, truncated, info = self._active.step(action)
        self._done = bool(terminated or truncated)
        return obs, reward, terminated, truncated, self._info(obs, info)

    def _info(self, obs: Any, inner: dict[str, Any]) -> dict[str, Any]:
        assert self._active is not None
        env = self._active.unwrapped
        for name, fn in self._fns.items():
            try:
                value = fn(env, obs, inner)
            except Exception as exc:
                raise CandidateError(
                    f"candidate {name!r} raised {type(exc).__name__}: {exc} "
                    f"(called as fn(env, obs, info) with env = {type(env).__name__}, s = {self.s})."
                ) from exc
            if not isinstance(value, (bool, np.bool_)):
                raise CandidateError(
                    f"candidate {name!r} returned {value!r} ({type(value).__name__}), not a bool; "
                    f"return True/False, e.g. bool(...)."
                )
            self._achieved[name] = self._achieved[name] or bool(value)
        truth = dict(inner.get("truth", {}) or {})
        if self._truth_fn is not None:
            extra = self._truth_fn(env, obs, inner)
            if not isinstance(extra, Mapping):
                raise ConfigError(
                    f"RegimeMixture(truth=...) must return a dict of scalars, got {type(extra).__name__}."
                )
            truth.update(extra)
        return {
            **inner,
            "s": self.s,
            "regime": self.regimes[self.s],
            "achieved": dict(self._achieved),
            "truth": truth,
        }

    def render(self):
        env = self._active if self._active is not None else self.train_env
        return env.render()

    def close(self) -> None:
        for env in getattr(self, "_envs", ()):
            env.close()
        super().close()
