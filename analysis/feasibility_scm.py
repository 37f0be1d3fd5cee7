"""Random structural causal models for the feasibility simulation (seed 003 §5).

Each `RandomSCM` has the seed's structure `data → D`, `D → Y_m`, and a base objective `Y_b` that
depends on the mesa objective (`Y_m → Y_b`), plus, drawn per model, the paths that can break
inner alignment: a bypass `D → Y_b` from a feature the mesa objective also reads, a direct
`data → Y_b`, and a hidden confounder `U → Y_m, Y_b`. The regime `s` is a soft intervention on the
data's distribution of strength `λ ∈ [0, 1]`: in deployment the shifted data components move in
mean by `λ·δ` and in scale by `1 + λ·(κ − 1)`, and at `λ = 0` deployment is training.

Why a generator of our own rather than DoWhy's `gcm.StructuralCausalModel`: `gcm` draws samples
from mechanisms fitted to data, and every draw goes through pandas and per-node Python calls;
here the mechanisms are given (not fitted), thousands of models × strengths are drawn in
vectorised numpy, the linear-Gaussian ones have closed forms (`moments`, `co_occurrence_exact`),
and the graph the truth comes from is the same object `analysis.SelectionDiagram` checks
(`diagram`). `to_gcm` exports a model to DoWhy's `gcm` with the same mechanisms, for users who
want DoWhy's interventions and attributions on it (tested to draw the same distribution).

Mechanisms: `linear` (everything linear, Gaussian noise), `nonlinear` (`tanh` and a quadratic
term), `threshold` (the mesa and base objectives are indicators: "goal reached").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from analysis.graphs import SelectionDiagram
from core.errors import ConfigError, unknown_name

if TYPE_CHECKING:
    from dowhy import gcm

MECHANISMS: tuple[str, ...] = ("linear", "nonlinear", "threshold")
"""Mechanism families a random model is drawn from."""


@dataclass(frozen=True)
class Sample:
    """Draws of one regime: the data `x (n, p)`, features `d (n, k)`, `y_m (n,)`, `y_b (n,)`."""

    x: np.ndarray
    d: np.ndarray
    y_m: np.ndarray
    y_b: np.ndarray


@dataclass(frozen=True)
class RandomSCM:
    """One model: `x_j ~ N(λ·δ_j·s, (1 + λ·(κ_j − 1)·s)²)`, `D = g(W·x) + σ_D·ε`,
    `Y_m = h(a·D + u_m·U) + σ_m·ε`, `Y_b = h(m·Y_m + b·D + c·x + u_b·U) + σ_b·ε`.

    `g`/`h` are the mechanism's functions (identity for `linear`; `tanh(z) + 0.2·z` and
    `z + 0.3·z²/(1 + 0.1·z²)` for `nonlinear`; for `threshold` `h` is `1{z + noise > 0}` and the
    objectives are binary). Zero weights are absent edges.
    """

    seed: int
    mechanism: str
    delta: np.ndarray  # (p,) mean shift at λ = 1 (0 for components the regime leaves alone)
    kappa: np.ndarray  # (p,) scale factor at λ = 1 (1 for components the regime leaves alone)
    w: np.ndarray  # (k, p) data → D
    a: np.ndarray  # (k,) D → Y_m
    m: float  # Y_m → Y_b
    b: np.ndarray  # (k,) D → Y_b (bypass)
    c: np.ndarray  # (p,) data → Y_b (direct)
    u_m: float  # U → Y_m
    u_b: float  # U → Y_b
    sd_d: float = 0.5
    sd_m: float = 0.5
    sd_b: float = 0.5

    @property
    def shifted(self) -> np.ndarray:
        """Indices of the data components the regime moves."""
        return np.flatnonzero((self.delta != 0) | (self.kappa != 1))

    @property
    def structure(self) -> str:
        """The optional paths this model has: `bypass`, `direct`, `confounded` joined by `+`, or `mediated`."""
        parts = [
            name
            for name, on in (
                ("bypass", np.any(self.b)),
                ("direct", np.any(self.c)),
                ("confounded", self.u_b and self.u_m),
            )
            if on
        ]
        return "+".join(parts) or "mediated"

    def diagram(self, lam: float = 1.0) -> SelectionDiagram:
        """The selection diagram (`s` enters at the shifted data components when `lam > 0`)."""
        edges: list[tuple[str, str]] = []
        p, k = len(self.delta), len(self.a)
        if lam > 0:
            edges += [("s", f"x{j}") for j in self.shifted]
        edges += [(f"x{j}", f"d{i}") for i in range(k) for j in range(p) if self.w[i, j]]
        edges += [(f"d{i}", "y_m") for i in range(k) if self.a[i]]
        edges += [(f"d{i}", "y_b") for i in range(k) if self.b[i]]
        edges += [(f"x{j}", "y_b") for j in range(p) if self.c[j]]
        if self.m:
            edges.append(("y_m", "y_b"))
        latent = []
        if self.u_m and self.u_b:
            edges += [("U", "y_m"), ("U", "y_b")]
            latent = ["U"]
        g = SelectionDiagram(edges, latent=latent)
        g.graph.add_nodes_from([f"x{j}" for j in range(p)] + [f"d{i}" for i in range(k)])
        return g

    def rule1(self, lam: float = 1.0) -> bool:
        """Whether `(Y_b ⊥ s | Y_m)` holds in the diagram at strength `lam` (always at `lam = 0`)."""
        return self.diagram(lam).rule1().holds

    def sample(self, n: int, lam: float, s: int, rng: np.random.Generator) -> Sample:
        """`n` draws in training (`s = 0`) or in deployment at strength `lam` (`s = 1`)."""
        p, k = len(self.delta), len(self.a)
        lam_s = lam * s
        x = rng.normal(size=(n, p)) * (1 + lam_s * (self.kappa - 1)) + lam_s * self.delta
        d = self._g(x @ self.w.T) + self.sd_d * rng.normal(size=(n, k))
        u = rng.normal(size=n)
        y_m = self._h(d @ self.a + self.u_m * u, self.sd_m * rng.normal(size=n))
        y_b = self._h(self.m * y_m + d @ self.b + x @ self.c + self.u_b * u, self.sd_b * rng.normal(size=n))
        return Sample(x, d, y_m, y_b)

    def _g(self, z: np.ndarray) -> np.ndarray:
        return z if self.mechanism != "nonlinear" else np.tanh(z) + 0.2 * z

    def _h(self, z: np.ndarray, noise: np.ndarray) -> np.ndarray:
        if self.mechanism == "threshold":
            return (z + noise > 0).astype(float)
        if self.mechanism == "nonlinear":
            z = z + 0.3 * z**2 / (1 + 0.1 * z**2)
        return z + noise

    def thresholds(self, quantile: float, rng: np.random.Generator, n_ref: int = 50_000) -> tuple[float, float]:
        """`(t_m, t_b)`: what counts as a high `Y_m` and a high `Y_b` — the training quantile `quantile`
        (exact for linear models, from `n_ref` training draws otherwise); binary objectives are high at 1."""
        if self.mechanism == "threshold":
            return 0.5, 0.5
        if self.mechanism == "linear":
            mean, cov = self.moments(0.0, 0)
            z = stats.norm.ppf(quantile)
            return float(mean[0] + z * np.sqrt(cov[0, 0])), float(mean[1] + z * np.sqrt(cov[1, 1]))
        ref = self.sample(n_ref, 0.0, 0, rng)
        return float(np.quantile(ref.y_m, quantile)), float(np.quantile(ref.y_b, quantile))

    def moments(self, lam: float, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean `(2,)` and covariance `(2, 2)` of `(Y_m, Y_b)` for a `linear` model."""
        if self.mechanism != "linear":
            raise ConfigError(f"closed-form moments exist for linear models only; this one is {self.mechanism!r}.")
        p, k = len(self.delta), len(self.a)
        # Every variable as `mean + L @ ε` over the independent standard normals ε = (x, D, U, Y_m, Y_b).
        n_eps = p + k + 3
        lam_s = lam * s
        x_l = np.zeros((p, n_eps))
        x_l[:, :p] = np.diag(1 + lam_s * (self.kappa - 1))
        x_mu = lam_s * self.delta
        d_l = self.w @ x_l
        d_l[:, p : p + k] += self.sd_d * np.eye(k)
        d_mu = self.w @ x_mu
        u_l = np.zeros(n_eps)
        u_l[p + k] = 1.0
        m_l = self.a @ d_l + self.u_m * u_l
        m_l[p + k + 1] += self.sd_m
        m_mu = self.a @ d_mu
        b_l = self.m * m_l + self.b @ d_l + self.c @ x_l + self.u_b * u_l
        b_l[p + k + 2] += self.sd_b
        b_mu = self.m * m_mu + self.b @ d_mu + self.c @ x_mu
        L = np.stack([m_l, b_l])
        return np.array([m_mu, b_mu]), L @ L.T

    def co_occurrence_exact(self, lam: float, s: int, t_m: float, t_b: float) -> float:
        """`P(Y_m > t_m, Y_b > t_b)` in closed form (bivariate normal orthant) for a `linear` model."""
        mean, cov = self.moments(lam, s)
        # P(Y_m > t_m, Y_b > t_b) = P(−Y_m < −t_m, −Y_b < −t_b).
        return float(stats.multivariate_normal(-mean, cov).cdf(np.array([-t_m, -t_b])))

    def gcm_equations(self, lam: float = 0.0, s: int = 0) -> str:
        """The model as DoWhy `gcm` equations (`gcm.create_causal_model_from_equations`) in one regime.

        Linear models only: DoWhy's parser lists a parent once per mention, so a mechanism that
        names a parent twice (`tanh(z) + 0.2·z`) breaks its sampler, and a threshold model puts its
        noise inside the indicator, which additive-noise equations cannot say.
        """
        if self.mechanism != "linear":
            raise ConfigError(f"gcm equations are written for linear models only; this one is {self.mechanism!r}.")
        p, k = len(self.delta), len(self.a)
        lam_s = lam * s

        def lin(weights: Sequence[float], names: Sequence[str]) -> str:
            return " + ".join(f"({_num(wt)})*{nm}" for wt, nm in zip(weights, names, strict=True) if wt) or "0"

        xs, ds = [f"x{j}" for j in range(p)], [f"d{i}" for i in range(k)]
        lines = [
            f"x{j} = norm(loc={_num(lam_s * self.delta[j])}, scale={_num(1 + lam_s * (self.kappa[j] - 1))})"
            for j in range(p)
        ]
        lines += [f"d{i} = {lin(self.w[i], xs)} + norm(loc=0, scale={_num(self.sd_d)})" for i in range(k)]
        confounded = bool(self.u_m and self.u_b)
        if confounded:
            lines.append("U = norm(loc=0, scale=1)")
        u_m, u_b = (f" + ({_num(self.u_m)})*U", f" + ({_num(self.u_b)})*U") if confounded else ("", "")
        lines.append(f"y_m = {lin(self.a, ds)}{u_m} + norm(loc=0, scale={_num(self.sd_m)})")
        parents = lin([self.m, *self.b, *self.c], ["y_m", *ds, *xs]) + u_b
        lines.append(f"y_b = {parents} + norm(loc=0, scale={_num(self.sd_b)})")
        return "\n".join(lines)

    def to_gcm(self, lam: float = 0.0, s: int = 0) -> gcm.StructuralCausalModel:
        """This model as DoWhy's `gcm.StructuralCausalModel` in one regime (see `gcm_equations`)."""
        from dowhy import gcm

        return gcm.create_causal_model_from_equations(self.gcm_equations(lam, s))


def _num(x: float) -> str:
    """A number as DoWhy's equation parser accepts it (plain decimals, no exponent)."""
    return f"{float(x):.12f}"


def _weights(rng: np.random.Generator, size, low: float = 0.5, high: float = 1.5) -> np.ndarray:
    """Weights bounded away from 0 (no near-unfaithful models), with random signs."""
    return rng.uniform(low, high, size) * rng.choice([-1.0, 1.0], size)


def random_scm(
    seed: int,
    *,
    mechanism: str | None = None,
    p_bypass: float = 0.3,
    p_direct: float = 0.2,
    p_confounder: float = 0.2,
) -> RandomSCM:
    """Draw one model from `seed`: 1–3 data components (the regime moves 1–2 of them), 2–4 features,
    and each optional path with its probability. `mechanism=None` draws one of `MECHANISMS`."""
    for name, prob in (("p_bypass", p_bypass), ("p_direct", p_direct), ("p_confounder", p_confounder)):
        if not 0 <= prob <= 1:
            raise ConfigError(f"{name} must be in [0, 1], got {prob}.")
    rng = np.random.default_rng([seed, 3005])
    mech = str(rng.choice(MECHANISMS)) if mechanism is None else mechanism
    if mech not in MECHANISMS:
        raise unknown_name("mechanism", mech, MECHANISMS)
    p, k = int(rng.integers(1, 4)), int(rng.integers(2, 5))
    shifted = rng.choice(p, size=min(p, int(rng.integers(1, 3))), replace=False)
    delta, kappa = np.zeros(p), np.ones(p)
    delta[shifted] = _weights(rng, len(shifted), 1.0, 2.0)
    kappa[shifted] = rng.uniform(0.7, 1.6, len(shifted))
    # Each feature reads 1–2 data components; the first reads a shifted one, so the shift reaches Y_m.
    w = np.zeros((k, p))
    for i in range(k):
        cols = rng.choice(p, size=min(p, int(rng.integers(1, 3))), replace=False)
        if i == 0:
            cols = np.union1d(cols[:1], shifted[:1])
        w[i, cols] = _weights(rng, len(cols))
    a = np.zeros(k)
    a[0] = _weights(rng, 1)[0]
    extra = rng.random(k - 1) < 0.5
    a[1:][extra] = _weights(rng, int(extra.sum()))
    b = np.zeros(k)
    if rng.random() < p_bypass:
        b[int(rng.choice(np.flatnonzero(a)))] = _weights(rng, 1, 0.5, 1.0)[0]
    c = np.zeros(p)
    if rng.random() < p_direct:
        c[int(rng.choice(shifted))] = _weights(rng, 1, 0.3, 0.8)[0]
    u_m = u_b = 0.0
    if rng.random() < p_confounder:
        u_m, u_b = _weights(rng, 2, 0.7, 1.5)
    scale = 1.0 / np.sqrt(max(np.sum(a**2), 1e-9))  # unit-norm weights into Y_m, whatever the fan-in
    return RandomSCM(
        seed=seed, mechanism=mech, delta=delta, kappa=kappa, w=w, a=a * scale, m=float(rng.uniform(0.5, 1.5)),
        b=b, c=c, u_m=float(u_m), u_b=float(u_b),
    )  # fmt: skip


__all__ = ["MECHANISMS", "RandomSCM", "Sample", "random_scm"]
