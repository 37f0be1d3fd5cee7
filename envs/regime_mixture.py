"""RegimeMixture: give a user's own pair of environments a regime indicator `s` and named candidates."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from core.errors import CandidateError, ConfigError
from envs.coin_corridor import check_shift

CandidateFn = Callable[[gym.Env, Any, dict], bool]
"""`fn(env, obs, info) -> bool`: whether a candidate objective holds now (`env` is the active inner env's `unwrapped`)."""
TruthFn = Callable[[gym.Env, Any, dict], Mapping[str, Any]]
"""`fn(env, obs, info) -> {name: scalar}`: ground-truth variables recorded per step."""

_SEED_BOUND = 2**31 - 1


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
    """One regime-aware environment made of a training and a deployment environment.

    ## Description
    `train` and `deploy` are zero-argument constructors (a class, or e.g. `lambda: MyEnv(size=6)`)
    of two gymnasium environments with equal observation and action spaces: the distribution the
    agent is trained on (`s = 0`) and the one it is deployed on (`s = 1`). Each is built once, when
    the mixture is built. Passing environment instances is refused on purpose: training and
    collection build one mixture per parallel slot, and instances would be shared between them.

    ## Regime
    On every `reset`, `s` is drawn from Bernoulli(`shift`) with `self.np_random`, and the chosen
    environment is reset with a seed drawn from the same generator, so that a whole episode (and a
    sequence of episodes after one seeded reset) is a function of the outer seed. `step` forwards to
    the chosen (active) environment.

    ## Info
    The active environment's info, plus `s` (the episode's regime), `achieved` (candidate ->
    whether it has held at any step of this episode, reset included), `truth` (the inner
    `info["truth"]` merged with `truth(env, obs, info)` when given; a flat dict of scalars) and,
    when the inner environment reports it, `base_reward` unchanged.

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
        deploy: Callable[[], gym.Env],
        *,
        shift: float = 0.0,
        candidates: Mapping[str, CandidateFn],
        truth: TruthFn | None = None,
        channels: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
    ) -> None:
        self.shift = check_shift(shift)
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

        self.train_env = _build("train", train)
        try:
            self.deploy_env = _build("deploy", deploy)
        except BaseException:
            self.train_env.close()
            raise
        self._envs = (self.train_env, self.deploy_env)
        for kind in ("observation", "action"):
            a = getattr(self.train_env, f"{kind}_space")
            b = getattr(self.deploy_env, f"{kind}_space")
            if a != b:
                self.close()
                raise ConfigError(
                    f"RegimeMixture: the training and deployment environments have different {kind} spaces "
                    f"(train: {a}, deploy: {b}). Both regimes must look the same to the agent: build them with "
                    f"the same sizes, or wrap one (e.g. a gymnasium.ObservationWrapper) so the spaces are equal."
                )
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

    @property
    def active(self) -> gym.Env | None:
        """The environment of the current episode (`None` before the first reset)."""
        return self._active

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.s = int(self.np_random.random() < self.shift)
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
        return {**inner, "s": self.s, "achieved": dict(self._achieved), "truth": truth}

    def render(self):
        env = self._active if self._active is not None else self.train_env
        return env.render()

    def close(self) -> None:
        for env in getattr(self, "_envs", ()):
            env.close()
        super().close()
