"""`check_agent`: run the contract an `Agent` must satisfy for probing, and report each check."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

import envs
from core.errors import AgentError, ConfigError
from core.hooks import forward_hooks
from core.modules import hooks_per_module, missing_module_reason, module_table

CHECKS: tuple[str, ...] = (
    "has_act",
    "acts_on_batch",
    "layers_resolve",
    "layers_fire",
    "deterministic_given_seed",
    "no_hooks_left",
    "steps_in_env",
    "recurrent_state",
)
"""The checks `check_agent` runs, in order."""

BATCH = 3
"""Rows in the batch the checks act on (observations from 3 seeded resets)."""

REPEAT = 8
"""The seeded-determinism checks act on the batch tiled this many times, so a lucky match is unlikely."""


@dataclass(frozen=True)
class CheckResult:
    """One check: its `name`, `passed` (None when skipped) and a one-sentence `detail`."""

    name: str
    passed: bool | None
    detail: str

    @property
    def status(self) -> str:
        """'pass', 'FAIL' or 'skip'."""
        return {True: "pass", False: "FAIL", None: "skip"}[self.passed]


@dataclass
class AgentCheck:
    """The outcome of `check_agent`: one `CheckResult` per check, in order."""

    checks: list[CheckResult] = field(default_factory=list)
    agent: str = "agent"

    @property
    def ok(self) -> bool:
        """True when no check failed (skipped checks do not count as failures)."""
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that failed."""
        return [c for c in self.checks if c.passed is False]

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def message(self) -> str:
        """One line naming each failed check and why ('' when all passed)."""
        if self.ok:
            return ""
        return f"{self.agent} failed check_agent: " + "; ".join(f"{c.name}: {c.detail}" for c in self.failures)

    def raise_if_failed(self) -> AgentCheck:
        """Raise `AgentError` listing each failed check; return self when all passed."""
        if not self.ok:
            raise AgentError(self.message())
        return self

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with columns `check`, `passed` (True/False/None) and `detail`."""
        return pd.DataFrame(
            {
                "check": [c.name for c in self.checks],
                "passed": pd.array([c.passed for c in self.checks], dtype="boolean"),
                "detail": [c.detail for c in self.checks],
            }
        )

    def __str__(self) -> str:
        width = max([len("check"), *(len(c.name) for c in self.checks)])
        n_fail = len(self.failures)
        head = f"check_agent({self.agent}): " + ("ok" if self.ok else f"{n_fail} failed")
        lines = [head, f"{'check':<{width}}  result  detail"]
        lines += [f"{c.name:<{width}}  {c.status:<6}  {c.detail}" for c in self.checks]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False)


def _make_env(env) -> tuple[gym.Env, bool]:
    """The environment to check against and whether `check_agent` created it (and so closes it)."""
    if isinstance(env, gym.Env):
        return env, False
    if isinstance(env, str):
        return envs.make(env), True
    if callable(env):
        made = env()
        if not isinstance(made, gym.Env):
            raise ConfigError(f"the env constructor returned {type(made).__name__}, not a gymnasium.Env.")
        return made, True
    raise ConfigError(
        f"env must be a gymnasium.Env, a registered id or a constructor callable, got {type(env).__name__}."
    )


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _s(n: int) -> str:
    return "" if n == 1 else "s"


class _Runner:
    """Calls the agent like `probes.collect` does and watches the hooks on its modules."""

    def __init__(self, agent) -> None:
        self.agent = agent
        self.recurrent = bool(getattr(agent, "recurrent", False))
        self.hooks_before = self._hooks()
        self.hook_counts_after_act: list[int] = []
        self.own_hooks = 0  # hooks check_agent itself has placed (layers_fire), not counted against the agent

    def _hooks(self) -> dict[str, int]:
        try:
            return hooks_per_module(self.agent)
        except Exception:  # an agent whose named_modules() breaks is reported elsewhere
            return {}

    def reset(self) -> None:
        reset = getattr(self.agent, "reset_state", None)
        if callable(reset):
            reset()

    def act(self, batch: np.ndarray, *, rng, deterministic: bool = False, starts=None, slots=None) -> np.ndarray:
        """`agent.act`, with slots and episode-start flags for recurrent agents (default: fresh episodes)."""
        if self.recurrent:
            n = len(batch)
            slots = list(range(n)) if slots is None else list(slots)
            starts = np.ones(n, bool) if starts is None else np.asarray(starts, bool)
            out = self.agent.act(batch, deterministic=deterministic, rng=rng, slots=slots, episode_start=starts)
        else:
            out = self.agent.act(batch, deterministic=deterministic, rng=rng)
        self.hook_counts_after_act.append(sum(self._hooks().values()) - self.own_hooks)
        return np.asarray(out)


def _check_has_act(agent) -> CheckResult:
    missing = [m for m in ("act", "named_modules") if not callable(getattr(agent, m, None))]
    if missing:
        return CheckResult(
            "has_act", False, f"{type(agent).__name__} has no callable {' or '.join(missing)} (see training.Agent)"
        )
    try:
        n = len(module_table(agent))
    except Exception as exc:
        return CheckResult("has_act", False, f"named_modules() raised {_error(exc)}")
    return CheckResult("has_act", True, f"act and named_modules are callable ({n} named modules)")


def _valid_actions(actions: np.ndarray, space: gym.Space) -> list:
    """The entries of `actions` that are not valid actions of `space`."""
    bad = []
    for a in actions.reshape(-1):
        try:
            ok = space.contains(np.int64(a)) if isinstance(space, gym.spaces.Discrete) else space.contains(a)
        except Exception:
            ok = False
        if not ok:
            bad.append(a.item() if hasattr(a, "item") else a)
    return bad


def _check_acts_on_batch(run: _Runner, batch: np.ndarray, space: gym.Space, seed: int) -> tuple[CheckResult, bool]:
    """The check, and whether `act` could be called at all (later checks are skipped if not)."""
    run.reset()
    try:
        actions = run.act(batch, rng=np.random.default_rng(seed))
    except Exception as exc:
        return CheckResult("acts_on_batch", False, f"act raised {_error(exc)} on a batch of {len(batch)}"), False
    n = len(batch)
    if actions.shape != (n,):
        return CheckResult("acts_on_batch", False, f"act returned shape {actions.shape} for a batch of {n}"), True
    if not np.issubdtype(actions.dtype, np.integer):
        return CheckResult("acts_on_batch", False, f"act returned dtype {actions.dtype}, not integer actions"), True
    bad = _valid_actions(actions, space)
    if bad:
        return CheckResult("acts_on_batch", False, f"act returned actions {bad} outside the action space {space}"), True
    return CheckResult("acts_on_batch", True, f"act returned {n} valid integer actions for a batch of {n}"), True


def _check_layers_resolve(agent, layers: list[str]) -> tuple[CheckResult, dict]:
    if not layers:
        return CheckResult("layers_resolve", None, "no layers given"), {}
    try:
        table = module_table(agent)
    except Exception as exc:
        return CheckResult("layers_resolve", False, f"named_modules() raised {_error(exc)}"), {}
    missing = [name for name in layers if name not in table]
    found = {name: table[name] for name in layers if name in table}
    if missing:
        return CheckResult("layers_resolve", False, "; ".join(missing_module_reason(n, table) for n in missing)), found
    return CheckResult(
        "layers_resolve", True, f"all {len(layers)} layer{_s(len(layers))} are modules of the agent"
    ), found


def _output_batch(output) -> int | None:
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    return int(output.shape[0]) if isinstance(output, torch.Tensor) and output.ndim else None


def _check_layers_fire(run: _Runner, modules: dict, batch: np.ndarray, seed: int) -> CheckResult:
    if not modules:
        return CheckResult("layers_fire", None, "no layer to hook")
    calls: dict[str, list[int | None]] = {name: [] for name in modules}
    hooks = [
        (module, lambda _m, _i, out, name=name: calls[name].append(_output_batch(out)))
        for name, module in modules.items()
    ]
    run.reset()
    try:
        with forward_hooks(hooks):
            run.own_hooks = len(hooks)
            run.act(batch, rng=np.random.default_rng(seed))
    except Exception as exc:
        return CheckResult("layers_fire", False, f"act raised {_error(exc)} with hooks on the layers")
    finally:
        run.own_hooks = 0
    n = len(batch)
    problems = []
    for name, seen in calls.items():
        if len(seen) != 1:
            problems.append(f"{name!r} fired {len(seen)} times in one act call")
        elif seen[0] != n:
            problems.append(f"{name!r} output has batch dim {seen[0]} for a batch of {n}")
    if problems:
        return CheckResult(
            "layers_fire", False, "; ".join(problems) + " (capture needs exactly one forward per act, batch first)"
        )
    return CheckResult("layers_fire", True, f"each layer fired once per act with batch dim {n}")


def _check_deterministic(run: _Runner, batch: np.ndarray, seed: int) -> CheckResult:
    big = np.concatenate([batch] * REPEAT)
    problems = []
    for deterministic in (False, True):
        pair = []
        for _ in range(2):
            run.reset()
            pair.append(run.act(big, rng=np.random.default_rng(seed), deterministic=deterministic))
        if pair[0].shape != pair[1].shape or not np.array_equal(pair[0], pair[1]):
            differ = int((pair[0] != pair[1]).sum()) if pair[0].shape == pair[1].shape else len(big)
            mode = "deterministic=True" if deterministic else "sampling"
            problems.append(f"{mode} gave different actions in {differ} of {len(big)} rows")
    if problems:
        return CheckResult(
            "deterministic_given_seed",
            False,
            " and ".join(problems) + " for the same batch and np.random.default_rng(seed); draw only from rng",
        )
    return CheckResult(
        "deterministic_given_seed", True, "the same rng seed gave the same actions, sampled and deterministic"
    )


def _check_steps(run: _Runner, env: gym.Env, seed: int, n_steps: int) -> CheckResult:
    rng = np.random.default_rng(seed)
    run.reset()
    try:
        obs, _ = env.reset(seed=seed)
    except Exception as exc:
        return CheckResult("steps_in_env", False, f"env.reset raised {_error(exc)}")
    start, episodes = True, 0
    for step in range(n_steps):
        try:
            actions = run.act(np.asarray(obs)[None], rng=rng, starts=[start], slots=[0])
        except Exception as exc:
            return CheckResult("steps_in_env", False, f"act raised {_error(exc)} at step {step}")
        if actions.shape != (1,):
            return CheckResult(
                "steps_in_env", False, f"act returned shape {actions.shape} for one observation at step {step}"
            )
        try:
            obs, _r, terminated, truncated, _info = env.step(actions[0].item())
            start = bool(terminated or truncated)
            if start:
                episodes += 1
                obs, _ = env.reset(seed=seed + 1000 + episodes)
        except Exception as exc:
            return CheckResult("steps_in_env", False, f"env.step raised {_error(exc)} at step {step}")
    return CheckResult("steps_in_env", True, f"ran {n_steps} steps ({episodes} episodes ended) without error")


def _check_recurrent(run: _Runner, batch: np.ndarray, seed: int) -> CheckResult:
    if not run.recurrent:
        return CheckResult("recurrent_state", None, "agent is not recurrent")
    big = np.concatenate([batch] * REPEAT)
    n = len(big)
    starts, carry_on = np.ones(n, bool), np.zeros(n, bool)
    noise = np.random.default_rng(seed + 1)
    try:
        run.reset()
        first = run.act(big, rng=np.random.default_rng(seed), starts=starts)
        # Restart after 3 and after 5 steps of state (coprime, so a periodic state cannot hide a missed reset).
        again = []
        for advance in (2, 1):
            for _ in range(advance):
                run.act(big, rng=noise, starts=carry_on)
            again.append(run.act(big, rng=np.random.default_rng(seed), starts=starts))
    except Exception as exc:
        return CheckResult("recurrent_state", False, f"act raised {_error(exc)} with slots and episode_start")
    for steps, actions in zip((3, 5), again, strict=True):
        if first.shape != actions.shape or not np.array_equal(first, actions):
            differ = int((first != actions).sum()) if first.shape == actions.shape else n
            return CheckResult(
                "recurrent_state",
                False,
                f"with episode_start all True the same rng gave different actions in {differ} of {n} rows after "
                f"{steps} steps, so the state is not reset at episode starts",
            )
    return CheckResult("recurrent_state", True, "episode_start resets the state (same rng, same actions)")


def _check_hooks(run: _Runner) -> CheckResult:
    before = sum(run.hooks_before.values())
    after_map = run._hooks()
    after = sum(after_map.values())
    counts = run.hook_counts_after_act
    worst = max(counts, key=lambda c: abs(c - before), default=before)
    problems = []
    if after != before or worst != before:
        grew = sorted(name or "<root>" for name in after_map if after_map[name] > run.hooks_before.get(name, 0))
        where = f" (on {', '.join(repr(g) for g in grew[:5])})" if grew else ""
        problems.append(
            f"the hook count went from {before} to {worst} while acting and is {after} after the check{where}; "
            f"act must not leave hooks registered"
        )
    if before:
        owners = ", ".join(repr(name or "<root>") for name, k in sorted(run.hooks_before.items()) if k)
        verb = "was" if before == 1 else "were"
        problems.append(
            f"{before} hook{_s(before)} {verb} already registered before the check (on {owners}); "
            f"they fire alongside capture's and may double-record activations"
        )
    if problems:
        return CheckResult("no_hooks_left", False, "; ".join(problems))
    return CheckResult("no_hooks_left", True, "no hooks before, during or after acting")


def check_agent(
    agent,
    env: gym.Env | str | Callable[[], gym.Env],
    *,
    layers: Sequence[str] = (),
    seed: int = 0,
    n_steps: int = 8,
    raise_on_fail: bool = True,
) -> AgentCheck:
    """Check that `agent` satisfies what `probes.collect` and `probes.capture` rely on.

    `env` is a gymnasium environment, a registered id (made with `envs.make`) or a constructor
    called with no arguments. Runs, in order: `has_act`, `acts_on_batch` (a batch of 3
    observations from 3 seeded resets gives 3 valid integer actions), `layers_resolve` (each of
    `layers` is a module name), `layers_fire` (each layer's forward hook fires once per `act`
    with the batch first), `deterministic_given_seed` (the same `np.random.default_rng(seed)`
    gives the same actions, sampled and with `deterministic=True`), `no_hooks_left` (the agent
    leaves no forward/backward hooks behind and none were there before), `steps_in_env`
    (`n_steps` environment steps without error) and, for agents with `recurrent = True`,
    `recurrent_state` (`episode_start` re-initialises the state). Returns an `AgentCheck`; with
    `raise_on_fail` any failure raises `AgentError` naming each failed check and why.
    """
    if isinstance(layers, str):
        layers = [layers]
    layers = list(dict.fromkeys(layers))
    if n_steps < 0:
        raise ConfigError(f"n_steps must be >= 0, got {n_steps}.")
    label = getattr(agent, "name", None)
    label = label if isinstance(label, str) and label else type(agent).__name__
    result = AgentCheck(agent=label)
    add = result.checks.append

    has_act = _check_has_act(agent)
    add(has_act)
    if not has_act.passed:
        for name in CHECKS[1:]:
            add(CheckResult(name, None, "skipped: the agent has no act/named_modules"))
        return result.raise_if_failed() if raise_on_fail else result

    run = _Runner(agent)
    the_env, owned = _make_env(env)
    try:
        batch = np.stack([np.asarray(the_env.reset(seed=seed + k)[0]) for k in range(BATCH)])
        acts, callable_ = _check_acts_on_batch(run, batch, the_env.action_space, seed)
        add(acts)
        resolve, modules = _check_layers_resolve(agent, layers)
        add(resolve)
        if callable_:
            fire = _check_layers_fire(run, modules, batch, seed)
            determinism = _check_deterministic(run, batch, seed)
            recurrent = _check_recurrent(run, batch, seed)
            steps = _check_steps(run, the_env, seed, n_steps)
        else:
            skip = "skipped: act raised on a batch (see acts_on_batch)"
            fire, determinism, steps, recurrent = (CheckResult(n, None, skip) for n in CHECKS[3:5] + CHECKS[6:])
        run.reset()
        result.checks += [fire, determinism, _check_hooks(run), steps, recurrent]
    finally:
        if owned:
            the_env.close()
    return result.raise_if_failed() if raise_on_fail else result
