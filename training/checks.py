"""The checks of `training.check_agent`, one callable each, and the order they run in.

Each check is a `Check`: a name, a function of the shared `Context` (the agent, the environment,
a batch of observations, the layers) returning a `CheckResult`, and what it needs: checks after
`has_act` need an agent with `act`, those that act on the batch need `acts_on_batch` to have been
able to call `act`. `no_hooks_left` runs after all the others (it inspects what they left).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from core.errors import AgentError
from core.hooks import forward_hooks
from core.modules import hooks_per_module, missing_module_reason, module_table
from envs.actions import action_batch, is_continuous

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
class Context:
    """What the checks share: the agent and environment, the batch acted on, and what earlier checks found."""

    agent: Any
    env: gym.Env | None = None
    layers: list[str] = field(default_factory=list)
    seed: int = 0
    n_steps: int = 8
    batch: np.ndarray | None = None
    run: Runner | None = None
    acted: bool = False
    """Whether `act` could be called on the batch (set by `acts_on_batch`)."""
    modules: dict = field(default_factory=dict)
    """The layers that resolved to modules (set by `layers_resolve`)."""


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _s(n: int) -> str:
    return "" if n == 1 else "s"


class Runner:
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


def _check_has_act(ctx: Context) -> CheckResult:
    agent = ctx.agent
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


def _check_acts_on_batch(ctx: Context) -> CheckResult:
    """The check; records in `ctx.acted` whether `act` could be called at all (later checks are skipped if not)."""
    run, batch, space, seed = ctx.run, ctx.batch, ctx.env.action_space, ctx.seed
    ctx.acted = False
    run.reset()
    try:
        actions = run.act(batch, rng=np.random.default_rng(seed))
    except Exception as exc:
        return CheckResult("acts_on_batch", False, f"act raised {_error(exc)} on a batch of {len(batch)}")
    ctx.acted = True
    n = len(batch)
    try:
        action_batch(actions, space, n)
    except AgentError as exc:
        return CheckResult("acts_on_batch", False, str(exc))
    kind = "real-valued" if is_continuous(space) else "integer"
    return CheckResult("acts_on_batch", True, f"act returned {n} valid {kind} actions for a batch of {n}")


def _check_layers_resolve(ctx: Context) -> CheckResult:
    """The check; records the modules it found in `ctx.modules` (hooked by `layers_fire`)."""
    layers = ctx.layers
    if not layers:
        return CheckResult("layers_resolve", None, "no layers given")
    try:
        table = module_table(ctx.agent)
    except Exception as exc:
        return CheckResult("layers_resolve", False, f"named_modules() raised {_error(exc)}")
    missing = [name for name in layers if name not in table]
    ctx.modules = {name: table[name] for name in layers if name in table}
    if missing:
        return CheckResult("layers_resolve", False, "; ".join(missing_module_reason(n, table) for n in missing))
    return CheckResult("layers_resolve", True, f"all {len(layers)} layer{_s(len(layers))} are modules of the agent")


def _output_batch(output) -> int | None:
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    return int(output.shape[0]) if isinstance(output, torch.Tensor) and output.ndim else None


def _check_layers_fire(ctx: Context) -> CheckResult:
    run, modules, batch, seed = ctx.run, ctx.modules, ctx.batch, ctx.seed
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


def _check_deterministic(ctx: Context) -> CheckResult:
    run, batch, seed = ctx.run, ctx.batch, ctx.seed
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


def _check_steps(ctx: Context) -> CheckResult:
    run, env, seed, n_steps = ctx.run, ctx.env, ctx.seed, ctx.n_steps
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
        try:
            action = action_batch(actions, env.action_space, 1)[0]
        except AgentError as exc:
            return CheckResult("steps_in_env", False, f"{exc} (one observation at step {step})")
        try:
            obs, _r, terminated, truncated, _info = env.step(
                action if is_continuous(env.action_space) else action.item()
            )
            start = bool(terminated or truncated)
            if start:
                episodes += 1
                obs, _ = env.reset(seed=seed + 1000 + episodes)
        except Exception as exc:
            return CheckResult("steps_in_env", False, f"env.step raised {_error(exc)} at step {step}")
    return CheckResult("steps_in_env", True, f"ran {n_steps} steps ({episodes} episodes ended) without error")


def _check_recurrent(ctx: Context) -> CheckResult:
    run, batch, seed = ctx.run, ctx.batch, ctx.seed
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


def _check_hooks(ctx: Context) -> CheckResult:
    run = ctx.run
    run.reset()
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


@dataclass(frozen=True)
class Check:
    """One check of `check_agent`: its `name`, the function that runs it, and what it needs to run."""

    name: str
    run: Callable[[Context], CheckResult]
    needs_act: bool = True
    """Skipped unless the agent has `act` and `named_modules` (everything after `has_act`)."""
    needs_batch_act: bool = False
    """Skipped unless `act` could be called on a batch (`acts_on_batch`)."""
    last: bool = False
    """Runs after every other check, whatever its place in the report."""


AGENT_CHECKS: tuple[Check, ...] = (
    Check("has_act", _check_has_act, needs_act=False),
    Check("acts_on_batch", _check_acts_on_batch),
    Check("layers_resolve", _check_layers_resolve),
    Check("layers_fire", _check_layers_fire, needs_batch_act=True),
    Check("deterministic_given_seed", _check_deterministic, needs_batch_act=True),
    Check("no_hooks_left", _check_hooks, last=True),
    Check("steps_in_env", _check_steps, needs_batch_act=True),
    Check("recurrent_state", _check_recurrent, needs_batch_act=True),
)
"""The checks `check_agent` runs, in report order."""
CHECKS: tuple[str, ...] = tuple(c.name for c in AGENT_CHECKS)
"""Their names, in report order."""
