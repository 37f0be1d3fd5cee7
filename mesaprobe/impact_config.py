"""The YAML config of an impact study (`kind: impact`; seed 002), validated like a study config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError, unknown_name
from envs.impact_levels import LEVELS
from mesaprobe.schema import plain
from training.impact_penalty import BASELINES, DEVIATIONS


@dataclass(frozen=True)
class ImpactStudyConfig:
    """Side-effect levels × impact penalties, planned and learned (see `analysis.impact_study`)."""

    kind: str = "impact"
    """Always `impact`."""
    name: str = "impact-study"
    """Study name shown in the report."""
    seed: int = 0
    """Master seed (auxiliary rewards of attainable utility, Q-learning)."""
    levels: list[str] = field(default_factory=lambda: list(LEVELS))
    """Levels of `mesaprobe/SideEffects-v0` (`box`, `vase`, `sushi`, `survival`, `door`, `bell`, `edge`)."""
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    """Baselines: `start`, `inaction`, `stepwise`, `iterative`, `iterative_persuasion`."""
    deviations: list[str] = field(default_factory=lambda: list(DEVIATIONS))
    """Deviation measures: `unreachability`, `relative_reachability`, `attainable_utility`."""
    truncations: list[bool] = field(default_factory=lambda: [True, False])
    """Truncated (true: only losses count) and/or absolute (false)."""
    beta: float = 30.0
    """Penalty weight (Krakovna et al.'s 30)."""
    horizon: int = 20
    """Steps per episode."""
    learning_baselines: list[str] = field(default_factory=list)
    """Baselines also learned by tabular Q-learning over seeds (with no penalty as the reference); empty: none."""
    learning_deviations: list[str] = field(default_factory=lambda: ["relative_reachability"])
    """The deviation measures of the learned penalties (truncated)."""
    learning_seeds: int = 5
    """Q-learning seeds per level × penalty."""
    learning_episodes: int = 1500
    """Q-learning episodes per run."""
    learning_exact: bool = True
    """Learners simulate the level (exact baselines); false: estimated from the transitions they observed
    (the iterative baselines need a simulator and are refused then)."""
    ppo_levels: list[str] = field(default_factory=list)
    """Levels on which Stable-Baselines3 PPO is trained under each of `ppo_baselines` (and none); empty: no PPO."""
    ppo_baselines: list[str] = field(default_factory=list)
    """Baselines of the PPO agents' penalties."""
    ppo_seeds: int = 2
    """PPO seeds per level × penalty."""
    ppo_deviation: str = "relative_reachability"
    """The deviation measure of the PPO agents' penalties."""
    ppo_timesteps: int = 200_000
    """PPO environment steps per run (about 77 s each on this CPU at the default)."""

    def __post_init__(self) -> None:
        if self.kind != "impact":
            raise ConfigError(f"kind must be 'impact' for an impact study, got {self.kind!r}.")
        for name, allowed in (("levels", LEVELS), ("baselines", BASELINES), ("deviations", DEVIATIONS),
                              ("learning_baselines", BASELINES), ("learning_deviations", DEVIATIONS), ("ppo_levels", LEVELS),
                              ("ppo_baselines", BASELINES)):  # fmt: skip
            values = getattr(self, name)
            if isinstance(values, str) or not isinstance(values, list):
                raise ConfigError(f"{name} must be a list, got {values!r}.")
            for v in values:
                if v not in allowed:
                    raise unknown_name(name[:-1].replace("_", " "), str(v), allowed)
        if not self.levels or not self.baselines or not self.deviations or not self.truncations:
            raise ConfigError("levels, baselines, deviations and truncations must each name at least one.")
        if self.ppo_deviation not in DEVIATIONS:
            raise unknown_name("ppo_deviation", self.ppo_deviation, DEVIATIONS)
        if not self.learning_exact and any(b.startswith("iterative") for b in self.learning_baselines):
            raise ConfigError(
                "learning_exact: false estimates baselines from observed transitions; the iterative baselines "
                "simulate the human and need learning_exact: true (or drop them from learning_baselines)."
            )
        if self.beta < 0 or min(self.horizon, self.learning_seeds, self.learning_episodes, self.ppo_seeds,
                                self.ppo_timesteps) < 1:  # fmt: skip
            raise ConfigError(
                "beta must be >= 0 and horizon, learning_seeds, learning_episodes, ppo_seeds, ppo_timesteps >= 1."
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for YAML and JSON."""
        return plain(dataclasses.asdict(self))
