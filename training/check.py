"""`check_agent`: run the contract an `Agent` must satisfy for probing, and report each check.

The checks themselves, one callable each, are in `training.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pandas as pd

import envs
from core.errors import AgentError, ConfigError
from training.checks import AGENT_CHECKS, BATCH, CHECKS, CheckResult, Context, Runner

__all__ = ["CHECKS", "AgentCheck", "CheckResult", "check_agent"]


@dataclass(frozen=True)
class AgentCheck:
    """The outcome of `check_agent`: one `CheckResult` per check, in order."""

    checks: tuple[CheckResult, ...] = ()
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
    ctx = Context(agent=agent, layers=layers, seed=seed, n_steps=n_steps)
    results: dict[str, CheckResult] = {}
    first, *rest = AGENT_CHECKS
    results[first.name] = first.run(ctx)
    if not results[first.name].passed:
        results |= {c.name: CheckResult(c.name, None, "skipped: the agent has no act/named_modules") for c in rest}
    else:
        ctx.run = Runner(agent)
        ctx.env, owned = _make_env(env)
        try:
            ctx.batch = np.stack([np.asarray(ctx.env.reset(seed=seed + k)[0]) for k in range(BATCH)])
            for check in sorted(rest, key=lambda c: c.last):  # stable: report order, `last` ones at the end
                if check.needs_batch_act and not ctx.acted:
                    results[check.name] = CheckResult(
                        check.name, None, "skipped: act raised on a batch (see acts_on_batch)"
                    )
                else:
                    results[check.name] = check.run(ctx)
        finally:
            if owned:
                ctx.env.close()
    result = AgentCheck(checks=tuple(results[c.name] for c in AGENT_CHECKS), agent=label)
    return result.raise_if_failed() if raise_on_fail else result
