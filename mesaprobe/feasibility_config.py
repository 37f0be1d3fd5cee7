"""The YAML config of a feasibility study (`kind: feasibility`; seed 003 §5–6), validated like a study config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from analysis.ci import CI_METHODS
from analysis.feasibility_scm import MECHANISMS
from core.errors import ConfigError, unknown_name
from mesaprobe.schema import plain
from training.activation_reward import PROBE_SCHEDULES


@dataclass(frozen=True)
class FeasibilityStudyConfig:
    """Random SCMs under a gradual regime change, and the wireheading trade-off on CoinCorridor."""

    kind: str = "feasibility"
    """Always `feasibility`."""
    name: str = "feasibility-study"
    """Study name shown in the report."""
    seed: int = 0
    """Master seed (models, draws, PPO seeds)."""
    n_models: int = 400
    """Random structural causal models simulated; 0 skips the simulation."""
    lambdas: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    """Strengths of the regime change in [0, 1] (0: deployment is training)."""
    n_episodes: int = 500
    """Episodes per regime the transport test gets for each model and strength."""
    n_cooccurrence: int = 20_000
    """Deployment draws the co-occurrence frequency is measured on."""
    quantile: float = 0.8
    """A mesa or base objective is high above this quantile of its training distribution."""
    mechanisms: list[str] = field(default_factory=lambda: list(MECHANISMS))
    """Mechanism families the models take in turn: `linear`, `nonlinear`, `threshold`."""
    p_bypass: float = 0.3
    """Probability that a model has a bypass `D → Y_b` from a feature the mesa objective reads."""
    p_direct: float = 0.2
    """Probability of a direct `data → Y_b` path."""
    p_confounder: float = 0.2
    """Probability of a hidden confounder `U → Y_m, Y_b`."""
    alpha: float = 0.05
    """Level of the transport tests."""
    method: str = "auto"
    """CI method of the transport test (`auto`, `pcm`, `gcm`, ...)."""
    wireheading_env: str = "mesaprobe/CoinCorridor-v0"
    """Environment of the trade-off (trained with the coin on the exit: shift 0)."""
    wireheading_betas: list[float] = field(default_factory=lambda: [0.0, 0.01, 0.03, 0.1])
    """Weights β of the read-out in the reward; empty skips the trade-off (β = 0 is always added)."""
    wireheading_probes: list[str] = field(default_factory=lambda: list(PROBE_SCHEDULES))
    """Probe schedules: `refit` and/or `frozen`."""
    wireheading_seeds: int = 3
    """PPO seeds per β and schedule."""
    wireheading_timesteps: int = 40_000
    """PPO steps per agent."""
    wireheading_episodes: int = 200
    """Episodes per regime collected from each agent."""
    wireheading_regime: str = "anywhere"
    """The deployment regime the misalignment is tested on."""
    wireheading_candidate: str = "coin"
    """The candidate the reward's probe reads and the transport test conditions on."""
    wireheading_site: str = "mlp_extractor.policy_net"
    """The layer the read-out reads."""
    wireheading_refit_every: int = 2
    """Rollouts between refits of a `refit` probe."""
    margin: float = 0.1
    """Equivalence margin of the transport verdicts."""

    def __post_init__(self) -> None:
        if self.kind != "feasibility":
            raise ConfigError(f"kind must be 'feasibility' for a feasibility study, got {self.kind!r}.")
        for name, allowed in (("mechanisms", MECHANISMS), ("wireheading_probes", PROBE_SCHEDULES)):
            values = getattr(self, name)
            if isinstance(values, str) or not isinstance(values, list):
                raise ConfigError(f"{name} must be a list, got {values!r}.")
            for v in values:
                if v not in allowed:
                    raise unknown_name(name.replace("_", " ")[:-1], str(v), allowed)
        if self.method not in CI_METHODS:
            raise unknown_name("method", self.method, CI_METHODS)
        for name in ("lambdas", "wireheading_betas"):
            if not isinstance(getattr(self, name), list):
                raise ConfigError(f"{name} must be a list of numbers, got {getattr(self, name)!r}.")
        if any(not 0 <= x <= 1 for x in self.lambdas) or (self.n_models and not self.lambdas):
            raise ConfigError(f"lambdas must be strengths in [0, 1], got {self.lambdas}.")
        if any(b < 0 for b in self.wireheading_betas):
            raise ConfigError(f"wireheading_betas must be >= 0, got {self.wireheading_betas}.")
        if self.wireheading_betas and not self.wireheading_probes:
            raise ConfigError("wireheading_probes must name refit and/or frozen when wireheading_betas is set.")
        if (
            self.n_models < 0
            or min(self.wireheading_seeds, self.wireheading_timesteps, self.wireheading_refit_every) < 1
        ):
            raise ConfigError("n_models must be >= 0; wireheading_seeds, _timesteps and _refit_every >= 1.")
        if min(self.n_episodes, self.wireheading_episodes) < 20 or self.n_cooccurrence < 100:
            raise ConfigError("n_episodes and wireheading_episodes must be >= 20, n_cooccurrence >= 100.")
        if not 0 < self.quantile < 1 or not 0 < self.alpha < 0.5 or self.margin <= 0:
            raise ConfigError("quantile must be in (0, 1), alpha in (0, 0.5), margin > 0.")
        for name in ("p_bypass", "p_direct", "p_confounder"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for YAML and JSON."""
        return plain(dataclasses.asdict(self))
