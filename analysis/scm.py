"""Structural causal models with known truth, for calibrating the CI and transport tests.

Each scenario draws `(y_b, s, y_m, groups)` for the selection diagram `s → Y_m → Y_b`, with or
without the edges that break `Y_b ⊥ s | Y_m`. Nulls hold that independence exactly; alternatives
add a direct `s → Y_b` shift or an `s × Y_m` interaction. `groups` is None except for step-level
scenarios, whose rows come in episodes of `STEPS` correlated steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from envs.errors import unknown_name

STEPS = 10
"""Steps per episode in the clustered scenarios."""


@dataclass(frozen=True)
class Scenario:
    """A data-generating process: `draw(rng, n) -> (y_b, s, y_m, groups)`; `null` says whether `Y_b ⊥ s | Y_m`."""

    name: str
    null: bool
    description: str
    draw: Callable[[np.random.Generator, int], tuple]


def _regime(rng, n, p=0.5):
    return (rng.random(n) < p).astype(float)


def _mediated(rng, n, *, p=0.5, outcome=None, noise=None, dim=1):
    s = _regime(rng, n, p)
    y_m = rng.normal(size=(n, dim)) + 0.8 * s[:, None] / np.sqrt(dim)
    base = np.tanh(y_m[:, 0]) + (0.3 * y_m[:, 1] if dim > 1 else 0.0)
    y_b = base + (outcome(s, y_m) if outcome else 0.0) + (noise(rng, y_m) if noise else 0.5 * rng.normal(size=n))
    return y_b, s, (y_m[:, 0] if dim == 1 else y_m), None


def _clustered(rng, n, effect=0.0):
    episodes = max(n // STEPS, 2)
    s_e = _regime(rng, episodes)
    latent = rng.normal(size=episodes) + 0.8 * s_e
    bias = 0.5 * rng.normal(size=episodes)  # an episode-level shock shared by all its steps
    groups = np.repeat(np.arange(episodes), STEPS)
    s = s_e[groups]
    y_m = latent[groups] + 0.5 * rng.normal(size=len(groups))
    y_b = np.tanh(y_m) + bias[groups] + effect * s + 0.3 * rng.normal(size=len(groups))
    return y_b, s, y_m, groups


def _binary(rng, n):
    s = _regime(rng, n)
    y_m = rng.normal(size=n) + 0.8 * s
    return (rng.random(n) < expit(2 * np.tanh(y_m))).astype(float), s, y_m, None


SCENARIOS: dict[str, Scenario] = {
    sc.name: sc
    for sc in [
        Scenario("linear", True, "Y_b = 0.7·Y_m + noise", lambda r, n: _mediated(r, n, outcome=lambda s, m: 0.7 * m[:, 0] - np.tanh(m[:, 0]))),
        Scenario("nonlinear", True, "Y_b = tanh(Y_m) + 0.2·Y_m² + noise", lambda r, n: _mediated(r, n, outcome=lambda s, m: 0.2 * m[:, 0] ** 2)),
        Scenario(
            "heteroscedastic", True, "noise s.d. 0.2 + 0.4·|Y_m|",
            lambda r, n: _mediated(r, n, noise=lambda rng, m: (0.2 + 0.4 * np.abs(m[:, 0])) * rng.normal(size=len(m))),
        ),
        Scenario("imbalanced", True, "deployment in 10 % of units", lambda r, n: _mediated(r, n, p=0.1)),
        Scenario("binary_yb", True, "Y_b ~ Bernoulli(σ(2·tanh(Y_m)))", _binary),
        Scenario("dim16", True, "16-dimensional Y_m, Y_b = tanh(Y_m₁) + 0.3·Y_m₂ + noise", lambda r, n: _mediated(r, n, dim=16)),
        Scenario("clustered", True, f"steps in episodes of {STEPS} sharing an episode-level shock", _clustered),
        Scenario("direct", False, "direct shift: + 0.15·s", lambda r, n: _mediated(r, n, outcome=lambda s, m: 0.15 * s)),
        Scenario("interaction", False, "interaction: + 0.25·s·Y_m", lambda r, n: _mediated(r, n, outcome=lambda s, m: 0.25 * s * m[:, 0])),
        Scenario(
            "signed_interaction", False, "interaction averaging to ~0: + 0.4·s·(Y_m − 0.4)",
            lambda r, n: _mediated(r, n, outcome=lambda s, m: 0.4 * s * (m[:, 0] - 0.4)),
        ),
        Scenario("clustered_direct", False, "clustered steps with a direct shift + 0.3·s", lambda r, n: _clustered(r, n, 0.3)),
    ]
}  # fmt: skip


def simulate(name: str, n: int, seed: int | np.random.Generator = 0) -> tuple:
    """Draw `(y_b, s, y_m, groups)` with `n` rows from scenario `name` (see `SCENARIOS`)."""
    if name not in SCENARIOS:
        raise unknown_name("scenario", name, SCENARIOS)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return SCENARIOS[name].draw(rng, n)
