"""The YAML config of an oracle study (`kind: oracle`; seed 001), validated like a study config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError
from mesaprobe.schema import plain


@dataclass(frozen=True)
class OracleStudyConfig:
    """Counterfactual oracles on OracleWorld and the banned-route test (see `analysis.oracle_study`)."""

    kind: str = "oracle"
    """Always `oracle` (what tells this config from an agent study's)."""
    name: str = "oracle-study"
    """Study name shown in the report."""
    seed: int = 0
    """Master seed: the same seed on CPU gives the same report."""
    world: dict[str, Any] = field(default_factory=dict)
    """OracleWorld settings (`world`, `mu`, `kappa`, `rho`, `sigma`, `threshold`, `drop`, `horizon`, `window`)."""
    erasure: float = 0.3
    """ε: the probability that a round's prediction is erased."""
    iterations_counterfactual: int = 3
    """Deploy-and-refit rounds of the counterfactual oracle."""
    iterations_plain: int = 40
    """Retrainings of the plain predictor (repeated risk minimisation)."""
    plain_starts: list[float] = field(default_factory=lambda: [0.0])
    """Starting predictions of the plain predictor, one run each (the threshold world has a fixed point per side)."""
    n_episodes: int = 50
    """Episodes collected per (re)training."""
    epochs: int = 150
    """Full-batch Adam epochs per fit."""
    manipulation_episodes: int = 100
    """Episodes of each deployed oracle behind the manipulation measure."""
    leakage_episodes: int = 200
    """Episodes per design in the leakage check."""
    explore: float = 3.0
    """Standard deviation of the exploration the leakage check follows."""
    leak: float = 0.1
    """The side channel of the leaky twin design (share of the read effect an erased prediction keeps)."""
    probe_episodes: int = 100
    """Episodes behind the probes for "this prediction will be read" (0: no probes, no informed predictor)."""
    iterations_informed: int = 15
    """Retrainings of the informed predictor (every round in the loss, told which are erased), the probes' contrast."""
    reward_oracle_timesteps: int = 0
    """PPO steps of the reward-based counterfactual oracle (0: not trained)."""
    banned_route_episodes: int = 4000
    """Exploration episodes per mechanism in the banned-route response test."""

    def __post_init__(self) -> None:
        if self.kind != "oracle":
            raise ConfigError(f"kind must be 'oracle' for an oracle study, got {self.kind!r}.")
        if "shift" in self.world or "leak" in self.world:
            raise ConfigError("world must not set 'shift' or 'leak'; use erasure: and leak: at the top level.")
        if not 0.0 < self.erasure < 1.0:
            raise ConfigError(
                f"erasure must lie strictly between 0 and 1 (some rounds read, some erased), got {self.erasure}."
            )
        for name in ("iterations_counterfactual", "iterations_plain", "n_episodes", "epochs", "manipulation_episodes",
                     "leakage_episodes", "banned_route_episodes"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}.")
        for name in ("probe_episodes", "reward_oracle_timesteps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (0 skips it), got {getattr(self, name)}.")
        if self.iterations_informed < 1:
            raise ConfigError(f"iterations_informed must be >= 1, got {self.iterations_informed}.")
        if isinstance(self.plain_starts, (str, bytes)) or not self.plain_starts:
            raise ConfigError(f"plain_starts must be a non-empty list of numbers, got {self.plain_starts!r}.")
        try:
            object.__setattr__(self, "plain_starts", [float(x) for x in self.plain_starts])
        except (TypeError, ValueError):
            raise ConfigError(f"plain_starts must be a list of numbers, got {self.plain_starts!r}.") from None
        if not 0.0 < self.leak <= 1.0:
            raise ConfigError(f"leak must lie in (0, 1] (the leaky twin needs a side channel), got {self.leak}.")
        if self.explore <= 0:
            raise ConfigError(f"explore must be > 0 (the leakage check follows it), got {self.explore}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for YAML and JSON."""
        return plain(dataclasses.asdict(self))
