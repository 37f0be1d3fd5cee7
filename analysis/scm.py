"""Structural causal models with known truth, for calibrating the CI and transport tests.

Each scenario draws `(y_b, s, y_m, groups)` for the selection diagram `s → Y_m → Y_b`, with or
without the edges that break `Y_b ⊥ s | Y_m`. Nulls hold that independence exactly; alternatives
add a regime effect `τ(Y_m) = E[Y_b|Y_m,s=1] − E[Y_b|Y_m,s=0]`: a direct shift, an interaction,
effects that change sign with `Y_m` or live in one region of it. `groups` is None except for
step-level scenarios, whose rows come in episodes of `STEPS` correlated steps.

Real probe outputs have several difficulties at once, so besides one-difficulty scenarios there
are combinations: a rare deployment regime × heavy-tailed, several-dimensional `Y_m` whose location
*and* scale move with the regime × heteroscedastic noise; a discrete `Y_m` with a binary `Y_b`;
strongly skewed `Y_m`; and the same with regime effects that change sign.

Every scenario also knows its truth (`Scenario.truth`): per unit the true `τ(Y_m)` and the true
propensity `e(Y_m) = P(s=1|Y_m)` (from the densities of `Y_m` in each regime), from which
`magnitude` computes the overlap-weighted RMS `‖τ‖₂` that the transport verdict's margin refers to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import expit

from core.errors import unknown_name

STEPS = 10
"""Steps per episode in the clustered scenarios."""


@dataclass(frozen=True)
class Draw:
    """One dataset and its truth: `tau` and `e` per row (`e` is None where it is not tracked)."""

    y_b: np.ndarray
    s: np.ndarray
    y_m: np.ndarray
    groups: np.ndarray | None
    tau: np.ndarray
    e: np.ndarray | None


@dataclass(frozen=True)
class Scenario:
    """A data-generating process; `null` says whether `Y_b ⊥ s | Y_m`; `difficulties` what makes it hard."""

    name: str
    null: bool
    description: str
    generate: Callable[[np.random.Generator, int], Draw]
    difficulties: tuple[str, ...] = ()

    def draw(self, rng: np.random.Generator, n: int) -> tuple:
        """`(y_b, s, y_m, groups)` with `n` rows."""
        d = self.generate(rng, n)
        return d.y_b, d.s, d.y_m, d.groups

    def truth(self, rng: np.random.Generator, n: int) -> Draw:
        """A dataset with its true `τ` and propensity per row."""
        return self.generate(rng, n)

    def magnitude(self, n: int = 200_000, seed: int = 0) -> float:
        """Overlap-weighted RMS of the true `τ` (`(E[e(1−e)τ²]/E[e(1−e)])^½`), by Monte Carlo.

        Scenarios whose `τ` is constant give `|τ|` whatever the weights.
        """
        d = self.generate(np.random.default_rng([seed, 99]), n)
        if d.e is None:
            return float(np.sqrt(np.mean(d.tau**2)))
        w = d.e * (1 - d.e)
        return float(np.sqrt(np.sum(w * d.tau**2) / np.sum(w)))


def _regime(rng, n, p=0.5):
    return (rng.random(n) < p).astype(float)


def _posterior(p: float, f1: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """`P(s=1 | y)` from the regime share and the two densities at `y`."""
    num = p * f1
    return num / (num + (1 - p) * f0)


def _mediated(rng, n, *, p=0.5, outcome=None, noise=None, dim=1, tau=None):
    """`Y_m ~ N(0.8·s/√d, I)`, `Y_b = tanh(Y_m₁) (+ 0.3·Y_m₂) + outcome + noise + s·τ(Y_m)`."""
    s = _regime(rng, n, p)
    shift = 0.8 / np.sqrt(dim)
    y_m = rng.normal(size=(n, dim)) + shift * s[:, None]
    base = np.tanh(y_m[:, 0]) + (0.3 * y_m[:, 1] if dim > 1 else 0.0)
    effect = np.zeros(n) if tau is None else tau(y_m)
    y_b = base + (outcome(s, y_m) if outcome else 0.0) + (noise(rng, y_m) if noise else 0.5 * rng.normal(size=n))
    y_b = y_b + s * effect
    log_ratio = (y_m * shift - shift**2 / 2).sum(1)  # log N(y; shift, I) − log N(y; 0, I)
    e = expit(np.log(p / (1 - p)) + log_ratio)
    return Draw(y_b, s, y_m[:, 0] if dim == 1 else y_m, None, effect, e)


def _clustered(rng, n, effect=0.0, p=0.5, heavy=False):
    episodes = max(n // STEPS, 2)
    s_e = _regime(rng, episodes, p)
    raw = rng.standard_t(3, size=episodes) if heavy else rng.normal(size=episodes)
    latent = raw * (1 + 0.5 * s_e * heavy) + 0.8 * s_e
    bias = 0.5 * rng.normal(size=episodes)  # an episode-level shock shared by all its steps
    groups = np.repeat(np.arange(episodes), STEPS)
    s = s_e[groups]
    y_m = latent[groups] + 0.5 * rng.normal(size=len(groups))
    noise = 0.3 * (1 + 0.5 * np.abs(y_m) * heavy) * rng.normal(size=len(groups))
    y_b = np.tanh(y_m) + bias[groups] + effect * s + noise
    return Draw(y_b, s, y_m, groups, np.full(len(groups), effect), None)


def _binary(rng, n):
    s = _regime(rng, n)
    y_m = rng.normal(size=n) + 0.8 * s
    return Draw((rng.random(n) < expit(2 * np.tanh(y_m))).astype(float), s, y_m, None, np.zeros(n), None)


HARD_DIM = 6


def _hard(rng, n, tau=None, p=0.15):
    """Rare regime × heavy tails (t₃, 6 dimensions) × location and scale shift × heteroscedastic noise.

    `Y_m = t₃·(1 + 0.5·s) + s`; `Y_b = tanh(Y_m₁) + 0.3·Y_m₂ + 0.5·tanh(Y_m₃·Y_m₄) + 0.2·Y_m₅²/(1 + 0.1·Y_m₅²)
    + (0.2 + 0.4·|Y_m₁|)·ε + s·τ(Y_m)`.
    """
    s = _regime(rng, n, p)
    y_m = rng.standard_t(3, size=(n, HARD_DIM)) * (1 + 0.5 * s[:, None]) + s[:, None]
    f = (
        np.tanh(y_m[:, 0])
        + 0.3 * y_m[:, 1]
        + 0.5 * np.tanh(y_m[:, 2] * y_m[:, 3])
        + 0.2 * y_m[:, 4] ** 2 / (1 + 0.1 * y_m[:, 4] ** 2)
    )
    effect = np.zeros(n) if tau is None else tau(y_m)
    y_b = f + (0.2 + 0.4 * np.abs(y_m[:, 0])) * rng.normal(size=n) + s * effect
    f1 = np.prod(stats.t.pdf((y_m - 1) / 1.5, 3) / 1.5, axis=1)
    f0 = np.prod(stats.t.pdf(y_m, 3), axis=1)
    return Draw(y_b, s, y_m, None, effect, _posterior(p, f1, f0))


LEVELS = 4


def _discrete(rng, n, logit_shift=None, p=0.3):
    """Discrete `Y_m ~ Binomial(4, 0.35 + 0.3·s)` (a count, or a binned probe), binary `Y_b`.

    `P(Y_b = 1 | Y_m, s) = σ(−1 + 0.6·Y_m + s·δ(Y_m))`; `τ` is the difference of the probabilities.
    """
    s = _regime(rng, n, p)
    y_m = rng.binomial(LEVELS, 0.35 + 0.3 * s).astype(float)
    delta = np.zeros(n) if logit_shift is None else logit_shift(y_m)
    base = -1 + 0.6 * y_m
    y_b = (rng.random(n) < expit(base + s * delta)).astype(float)
    effect = expit(base + delta) - expit(base)
    f1, f0 = stats.binom.pmf(y_m, LEVELS, 0.65), stats.binom.pmf(y_m, LEVELS, 0.35)
    return Draw(y_b, s, y_m, None, effect, _posterior(p, f1, f0))


def _skewed(rng, n, tau=None, p=0.25):
    """Strongly skewed `Y_m = exp(1.2·N + 0.6·s)` (2 dimensions), heteroscedastic noise growing with `Y_m`."""
    s = _regime(rng, n, p)
    logs = 1.2 * rng.normal(size=(n, 2)) + 0.6 * s[:, None]
    y_m = np.exp(logs)
    effect = np.zeros(n) if tau is None else tau(y_m)
    f = np.log1p(y_m[:, 0]) + 0.2 * np.sqrt(y_m[:, 1])
    y_b = f + 0.3 * (1 + 0.5 * np.log1p(y_m[:, 0])) * rng.normal(size=n) + s * effect
    f1 = np.prod(stats.norm.pdf(logs, 0.6, 1.2), axis=1)
    f0 = np.prod(stats.norm.pdf(logs, 0.0, 1.2), axis=1)
    return Draw(y_b, s, y_m, None, effect, _posterior(p, f1, f0))


_RARE_HEAVY = ("rare regime", "heavy tails", "heteroscedastic", "shifted Y_m", f"d = {HARD_DIM}")

SCENARIOS: dict[str, Scenario] = {
    sc.name: sc
    for sc in [
        Scenario("linear", True, "Y_b = 0.7·Y_m + noise", lambda r, n: _mediated(r, n, outcome=lambda s, m: 0.7 * m[:, 0] - np.tanh(m[:, 0]))),
        Scenario("nonlinear", True, "Y_b = tanh(Y_m) + 0.2·Y_m² + noise", lambda r, n: _mediated(r, n, outcome=lambda s, m: 0.2 * m[:, 0] ** 2)),
        Scenario(
            "heteroscedastic", True, "noise s.d. 0.2 + 0.4·|Y_m|",
            lambda r, n: _mediated(r, n, noise=lambda rng, m: (0.2 + 0.4 * np.abs(m[:, 0])) * rng.normal(size=len(m))),
            ("heteroscedastic",),
        ),
        Scenario("imbalanced", True, "deployment in 10 % of units", lambda r, n: _mediated(r, n, p=0.1), ("rare regime",)),
        Scenario("binary_yb", True, "Y_b ~ Bernoulli(σ(2·tanh(Y_m)))", _binary, ("binary Y_b",)),
        Scenario("dim16", True, "16-dimensional Y_m, Y_b = tanh(Y_m₁) + 0.3·Y_m₂ + noise", lambda r, n: _mediated(r, n, dim=16), ("d = 16",)),
        Scenario("clustered", True, f"steps in episodes of {STEPS} sharing an episode-level shock", _clustered, ("clustered steps",)),
        Scenario(
            "rare_heavy_shifted", True,
            f"deployment in 15 %, {HARD_DIM}-dim t₃ Y_m moved in location and scale, interactions, noise s.d. 0.2 + 0.4·|Y_m₁|",
            _hard, _RARE_HEAVY,
        ),
        Scenario(
            "discrete_binary", True, "Y_m ∈ {0…4} (binomial, shifted), Y_b ~ Bernoulli(σ(−1 + 0.6·Y_m)), deployment in 30 %",
            _discrete, ("discrete Y_m", "binary Y_b", "shifted Y_m"),
        ),
        Scenario(
            "skewed", True, "Y_m = exp(1.2·N + 0.6·s) in 2 dims, deployment in 25 %, noise growing with Y_m",
            _skewed, ("skewed Y_m", "heteroscedastic", "shifted Y_m"),
        ),
        Scenario(
            "clustered_rare_heavy", True, "steps in episodes, deployment in 20 %, t₃ latent moved in location and scale",
            lambda r, n: _clustered(r, n, p=0.2, heavy=True), ("clustered steps", "rare regime", "heavy tails", "heteroscedastic"),
        ),
        Scenario("direct", False, "direct shift: + 0.15·s", lambda r, n: _mediated(r, n, tau=lambda m: np.full(len(m), 0.15))),
        Scenario("interaction", False, "interaction: + 0.25·s·Y_m", lambda r, n: _mediated(r, n, tau=lambda m: 0.25 * m[:, 0])),
        Scenario(
            "signed_interaction", False, "interaction averaging to ~0: + 0.4·s·(Y_m − 0.4)",
            lambda r, n: _mediated(r, n, tau=lambda m: 0.4 * (m[:, 0] - 0.4)), ("effect changes sign",),
        ),
        Scenario(
            "sign_change", False, "saturating effect that changes sign and averages to ~0: + 0.3·s·tanh(2·(Y_m − 0.4))",
            lambda r, n: _mediated(r, n, tau=lambda m: 0.3 * np.tanh(2 * (m[:, 0] - 0.4))), ("effect changes sign",),
        ),
        Scenario(
            "region", False, "effect in one region only: + 0.4·s·1{Y_m > 1}",
            lambda r, n: _mediated(r, n, tau=lambda m: 0.4 * (m[:, 0] > 1.0)), ("region-limited effect",),
        ),
        Scenario(
            "rare_heavy_sign_change", False, "rare_heavy_shifted + s·1.5·tanh(2·(Y_m₁ − 0.5))",
            lambda r, n: _hard(r, n, tau=lambda m: 1.5 * np.tanh(2 * (m[:, 0] - 0.5))), (*_RARE_HEAVY, "effect changes sign"),
        ),
        Scenario(
            "discrete_binary_sign_change", False, "discrete_binary with the logit moved +1.2 at Y_m ≤ 1 and −1.2 at Y_m ≥ 3",
            lambda r, n: _discrete(r, n, logit_shift=lambda m: np.where(m <= 1, 1.2, np.where(m >= 3, -1.2, 0.0))),
            ("discrete Y_m", "binary Y_b", "effect changes sign"),
        ),
        Scenario(
            "skewed_region", False, "skewed + s·0.4·1{Y_m₁ > 2}",
            lambda r, n: _skewed(r, n, tau=lambda m: 0.4 * (m[:, 0] > 2.0)), ("skewed Y_m", "heteroscedastic", "region-limited effect"),
        ),
        Scenario("clustered_direct", False, "clustered steps with a direct shift + 0.3·s", lambda r, n: _clustered(r, n, 0.3), ("clustered steps",)),
    ]
}  # fmt: skip


def simulate(name: str, n: int, seed: int | np.random.Generator = 0) -> tuple:
    """Draw `(y_b, s, y_m, groups)` with `n` rows from scenario `name` (see `SCENARIOS`)."""
    if name not in SCENARIOS:
        raise unknown_name("scenario", name, SCENARIOS)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return SCENARIOS[name].draw(rng, n)
