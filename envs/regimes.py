"""Named regimes: the training distribution and a family of deployment distributions per environment.

Every regime-aware environment lists its regimes in `regimes` (index 0 is `TRAIN`, the training
distribution; 1…k the named deployment distributions) and takes two arguments: `shift` (λ), the
probability that an episode comes from deployment, and `regime`, which deployment distribution:
one name, or a mapping of names to weights drawn per deployment episode. `info["s"]` is the
episode's regime index and `info["regime"]` its name (DESIGN.md §3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from core.errors import ConfigError, unknown_name

TRAIN = "train"
"""The name of regime 0, the training distribution, in every environment."""

RegimeArg = str | Mapping[str, float] | None
"""What `regime=` takes: a deployment regime's name, `{name: weight}`, or None for the default."""


@dataclass(frozen=True)
class RegimeChoice:
    """Which regime each episode comes from: training with probability `1 − shift`, else `names` by `weights`.

    `regimes` are all of the environment's regimes (`TRAIN` first); `names` the deployment regimes
    this environment draws from and `weights` their probabilities (summing to 1).
    """

    regimes: tuple[str, ...]
    names: tuple[str, ...]
    weights: tuple[float, ...]
    shift: float

    @classmethod
    def parse(
        cls, regimes: Sequence[str], regime: RegimeArg, shift: float, *, default: str | None = None
    ) -> RegimeChoice:
        """Check `regime` against the environment's `regimes` and build the choice.

        `default` (the first deployment regime unless given) is used when `regime` is None. Raises
        `UnknownNameError` with the closest names for a name the environment does not have, and
        `ConfigError` for `TRAIN` (chosen by `shift=0`), empty mappings and bad weights.
        """
        regimes = tuple(regimes)
        if len(regimes) < 2 or regimes[0] != TRAIN:
            raise ConfigError(
                f"regimes must start with {TRAIN!r} and name at least one deployment regime, got {regimes}."
            )
        deploy = regimes[1:]
        if regime is None:
            regime = default if default is not None else deploy[0]
        if isinstance(regime, str):
            wanted: dict[str, float] = {regime: 1.0}
        elif isinstance(regime, Mapping):
            wanted = dict(regime)
            if not wanted:
                raise ConfigError(f"regime must name at least one deployment regime; choose among {list(deploy)}.")
        else:
            raise ConfigError(
                f"regime must be a deployment regime's name or a mapping of names to weights, got {regime!r}; "
                f"choose among {list(deploy)}."
            )
        for name, weight in wanted.items():
            if name == TRAIN:
                raise ConfigError(
                    f"regime names a deployment distribution; {TRAIN!r} is regime 0, chosen by shift: "
                    f"use shift=0 for training episodes and regime= among {list(deploy)}."
                )
            if name not in deploy:
                raise unknown_name("regime", str(name), list(deploy))
            if isinstance(weight, bool) or not isinstance(weight, Real) or not np.isfinite(weight) or weight < 0:
                raise ConfigError(f"regime weight of {name!r} must be a finite number >= 0, got {weight!r}.")
        total = float(sum(wanted.values()))
        if total <= 0:
            raise ConfigError(f"regime weights must not all be zero, got {wanted}.")
        names = tuple(wanted)
        return cls(regimes, names, tuple(float(w) / total for w in wanted.values()), float(shift))

    def draw(self, rng: np.random.Generator, deployed: bool) -> int:
        """The episode's regime index, given whether it is a deployment episode.

        One deployment regime draws nothing more from `rng` (so a single-regime environment keeps
        the random stream it had before regimes had names); several draw one number.
        """
        if not deployed:
            return 0
        if len(self.names) == 1:
            return self.regimes.index(self.names[0])
        k = int(np.searchsorted(np.cumsum(self.weights), rng.random(), side="right"))
        return self.regimes.index(self.names[min(k, len(self.names) - 1)])

    def describe(self) -> dict[str, Any]:
        """`{regime name: probability}` over all regimes this choice can produce."""
        out = {TRAIN: 1.0 - self.shift} if self.shift < 1 else {}
        if self.shift > 0:
            out.update({n: self.shift * w for n, w in zip(self.names, self.weights, strict=True)})
        return out


def as_choice(
    regimes: Sequence[str], regime: RegimeArg | RegimeChoice, shift: float, *, default: str | None = None
) -> RegimeChoice:
    """`regime` as a `RegimeChoice` over `regimes`: parsed, unless it already is one (as environments pass theirs)."""
    if isinstance(regime, RegimeChoice):
        if regime.regimes != tuple(regimes):
            raise ConfigError(
                f"regime is a choice over {regime.regimes}, not over this layout's regimes {tuple(regimes)}."
            )
        return regime
    return RegimeChoice.parse(regimes, regime, shift, default=default)


def draw_regime(rng: np.random.Generator, shift: float, choice: RegimeChoice) -> int:
    """One episode's regime index: deployment with probability `shift` (one draw), then which regime.

    The first draw is the one every environment made before regimes had names, at the same point
    of its random stream; `choice.draw` adds a draw only when several deployment regimes are chosen.
    """
    deployed = bool(rng.random() < shift)
    return choice.draw(rng, deployed)
