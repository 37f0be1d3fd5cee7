"""Families of deployment regimes with known truth, for calibrating the categorical-regime tests.

Each scenario draws `(y_b, s, y_m, groups)` with `s ∈ {0, 1, …, k}` (0 training) from
`P(s = j) = probs[j]`: `Y_m` moves in location and scale from regime to regime and
`Y_b = f(Y_m) + noise + τ_s(Y_m)`. Nulls have `τ_s = 0` for every regime; alternatives give one or
more regimes an effect (`affected`), constant, of opposite signs across regimes, or changing sign
with `Y_m`. As for the binary scenarios (`analysis.scm`), the difficulties come combined: rare and
imbalanced regimes, heavy-tailed `Y_m`, heteroscedastic noise, discrete `Y_m` with a binary `Y_b`,
and a null where one regime barely overlaps training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from analysis.scm import LEVELS, Draw
from core.errors import unknown_name

Effect = Callable[[np.ndarray], np.ndarray]
"""`τ(y_m) -> (n,)`: a regime's effect on `Y_b` beyond `Y_m`."""


@dataclass(frozen=True)
class FamilyScenario:
    """A data-generating process over `k` deployment regimes; `affected` are the regimes with an effect."""

    name: str
    description: str
    generate: Callable[[np.random.Generator, int], Draw]
    k: int
    affected: tuple[int, ...] = ()
    difficulties: tuple[str, ...] = field(default=())

    @property
    def null(self) -> bool:
        """Whether `Y_b ⊥ s | Y_m` holds for every regime."""
        return not self.affected

    def draw(self, rng: np.random.Generator, n: int) -> tuple:
        """`(y_b, s, y_m, groups)` with `n` rows."""
        d = self.generate(rng, n)
        return d.y_b, d.s, d.y_m, d.groups


def _regimes(rng: np.random.Generator, n: int, probs: tuple[float, ...]) -> np.ndarray:
    return rng.choice(len(probs), size=n, p=np.asarray(probs) / np.sum(probs)).astype(float)


def _continuous(
    rng: np.random.Generator,
    n: int,
    *,
    probs: tuple[float, ...],
    shifts: tuple[float, ...],
    scales: tuple[float, ...] | None = None,
    heavy: bool = False,
    effects: Mapping[int, Effect] | None = None,
) -> Draw:
    """`Y_m = ε·scale_s + shift_s` (ε normal, or t₃ when `heavy`), `Y_b = tanh(Y_m) + 0.2·Y_m²/(1 + 0.1·Y_m²)
    + (0.2 + 0.4·|Y_m|)·N + τ_s(Y_m)`."""
    s = _regimes(rng, n, probs)
    j = s.astype(int)
    raw = rng.standard_t(3, size=n) if heavy else rng.normal(size=n)
    scale = np.ones(len(probs)) if scales is None else np.asarray(scales)
    y_m = raw * scale[j] + np.asarray(shifts)[j]
    effect = np.zeros(n)
    for regime, tau in (effects or {}).items():
        effect = np.where(j == regime, tau(y_m), effect)
    y_b = np.tanh(y_m) + 0.2 * y_m**2 / (1 + 0.1 * y_m**2) + (0.2 + 0.4 * np.abs(y_m)) * rng.normal(size=n) + effect
    return Draw(y_b, s, y_m, None, effect, None)


def _discrete(
    rng: np.random.Generator, n: int, *, probs: tuple[float, ...], success: tuple[float, ...], logit_shifts=None
) -> Draw:
    """`Y_m ~ Binomial(4, success_s)`, `P(Y_b = 1 | Y_m, s) = σ(−1 + 0.6·Y_m + δ_s(Y_m))`."""
    s = _regimes(rng, n, probs)
    j = s.astype(int)
    y_m = rng.binomial(LEVELS, np.asarray(success)[j]).astype(float)
    delta = np.zeros(n)
    for regime, shift in (logit_shifts or {}).items():
        delta = np.where(j == regime, shift(y_m), delta)
    base = -1 + 0.6 * y_m
    y_b = (rng.random(n) < expit(base + delta)).astype(float)
    return Draw(y_b, s, y_m, None, expit(base + delta) - expit(base), None)


_K3 = dict(probs=(0.5, 0.25, 0.15, 0.10), shifts=(0.0, 0.5, 1.0, -0.5), scales=(1.0, 1.3, 1.0, 0.8), heavy=True)
_K5 = dict(probs=(0.40, 0.25, 0.15, 0.10, 0.06, 0.04), shifts=(0.0, 0.3, 0.6, 0.9, -0.4, 1.2))
_K5_DISCRETE = dict(probs=(0.35, 0.2, 0.15, 0.1, 0.1, 0.1), success=(0.35, 0.45, 0.55, 0.65, 0.3, 0.5))
_POOR = dict(probs=(0.4, 0.2, 0.2, 0.2), shifts=(0.0, 0.4, 0.8, 3.0))

_HARD3 = ("3 regimes", "imbalanced regimes", "heavy tails", "heteroscedastic", "shifted Y_m")
_HARD5 = ("5 regimes", "rare regimes (4 %)", "heteroscedastic", "shifted Y_m")
_DISC5 = ("5 regimes", "discrete Y_m", "binary Y_b", "shifted Y_m")

FAMILY_SCENARIOS: dict[str, FamilyScenario] = {
    sc.name: sc
    for sc in [
        FamilyScenario(
            "family3_rare_heavy", "3 regimes in 25/15/10 %, t₃ Y_m moved in location and scale, heteroscedastic noise",
            lambda r, n: _continuous(r, n, **_K3), 3, (), _HARD3,
        ),
        FamilyScenario(
            "family5_imbalanced", "5 regimes in 25/15/10/6/4 %, Y_m shifted −0.4…1.2, heteroscedastic noise",
            lambda r, n: _continuous(r, n, **_K5), 5, (), _HARD5,
        ),
        FamilyScenario(
            "family5_discrete_binary", "5 regimes, Y_m ~ Binomial(4, 0.3…0.65), Y_b ~ Bernoulli(σ(−1 + 0.6·Y_m))",
            lambda r, n: _discrete(r, n, **_K5_DISCRETE), 5, (), _DISC5,
        ),
        FamilyScenario(
            "family3_poor_overlap", "3 regimes; regime 3's Y_m moved by 3 s.d. (little overlap with training)",
            lambda r, n: _continuous(r, n, **_POOR), 3, (), ("3 regimes", "poor overlap in one regime", "heteroscedastic"),
        ),
        FamilyScenario(
            "family3_one_shift", "family3_rare_heavy + 0.35 in regime 2 (15 %) only",
            lambda r, n: _continuous(r, n, **_K3, effects={2: lambda m: np.full(len(m), 0.35)}), 3, (2,), _HARD3,
        ),
        FamilyScenario(
            "family3_opposite", "family3_rare_heavy + 0.3 in regime 1 and − 0.3 in regime 3 (they cancel when pooled)",
            lambda r, n: _continuous(
                r, n, **_K3, effects={1: lambda m: np.full(len(m), 0.3), 3: lambda m: np.full(len(m), -0.3)}
            ), 3, (1, 3), (*_HARD3, "effects of opposite sign"),
        ),
        FamilyScenario(
            "family5_sign_change", "family5_imbalanced + 0.6·tanh(2·(Y_m − 0.6)) in regime 2 (changes sign)",
            lambda r, n: _continuous(r, n, **_K5, effects={2: lambda m: 0.6 * np.tanh(2 * (m - 0.6))}), 5, (2,),
            (*_HARD5, "effect changes sign"),
        ),
        FamilyScenario(
            "family5_discrete_sign_change", "family5_discrete_binary with the logit moved +1.5 at Y_m ≤ 1, −1.5 at Y_m ≥ 3 in regime 1",
            lambda r, n: _discrete(
                r, n, **_K5_DISCRETE, logit_shifts={1: lambda m: np.where(m <= 1, 1.5, np.where(m >= 3, -1.5, 0.0))}
            ), 5, (1,), (*_DISC5, "effect changes sign"),
        ),
    ]
}  # fmt: skip


def simulate_family(name: str, n: int, seed: int | np.random.Generator = 0) -> tuple:
    """Draw `(y_b, s, y_m, groups)` with `n` rows from family scenario `name` (see `FAMILY_SCENARIOS`)."""
    if name not in FAMILY_SCENARIOS:
        raise unknown_name("family scenario", name, FAMILY_SCENARIOS)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return FAMILY_SCENARIOS[name].draw(rng, n)
