"""The feasibility study (seed 003 §5–6): the SCM simulation and the wireheading trade-off in one report.

`run_feasibility_analysis` runs the simulation over random structural causal models
(`analysis.feasibility`, skipped with `n_models: 0`) and the `β` grid of `reward_from_activations`
on CoinCorridor (`analysis.wireheading_study`, skipped with an empty `wireheading_betas`). The result
is a `FeasibilityStudyReport` (typed, frozen; its `to_dict` is `report.json`); figures and HTML are
in `analysis.feasibility_figures` and `analysis.wireheading_figures`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from analysis.feasibility import FeasibilityResult, simulate_feasibility
from analysis.wireheading_study import WireheadingReport, run_wireheading
from training.train import PPOSettings


@dataclass(frozen=True)
class FeasibilityStudyReport:
    """The simulation's and the trade-off's results (either may be None when the config skips it)."""

    name: str
    seed: int
    simulation: FeasibilityResult | None
    wireheading: WireheadingReport | None

    def to_dict(self) -> dict:
        """Plain JSON (`report.json`)."""
        return {
            "format": "mesaprobe-feasibility-report/1",
            "kind": "feasibility",
            "study": self.name,
            "seed": self.seed,
            "simulation": None if self.simulation is None else self.simulation.to_dict(),
            "wireheading": None if self.wireheading is None else self.wireheading.to_dict(),
        }

    def _repr_html_(self) -> str:
        parts = [f"<h3>Feasibility study {self.name}</h3>"]
        parts += [part._repr_html_() for part in (self.simulation, self.wireheading) if part is not None]
        return "".join(parts)


WIREHEADING_SETTINGS = PPOSettings(n_envs=8, n_steps=128)
"""The PPO settings the wireheading grid's published numbers (README) were measured with: the defaults before
the batched environments (the same network, the same 1,024-step rollouts, 8 environments instead of 16)."""


def run_feasibility_analysis(
    *,
    name: str = "feasibility-study",
    seed: int = 0,
    n_models: int = 400,
    lambdas: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    n_episodes: int = 500,
    n_cooccurrence: int = 20_000,
    quantile: float = 0.8,
    mechanisms: Sequence[str] = ("linear", "nonlinear", "threshold"),
    p_bypass: float = 0.3,
    p_direct: float = 0.2,
    p_confounder: float = 0.2,
    alpha: float = 0.05,
    method: str = "auto",
    wireheading_env: str = "mesaprobe/CoinCorridor-v0",
    wireheading_betas: Sequence[float] = (0.0, 0.01, 0.03, 0.1),
    wireheading_probes: Sequence[str] = ("refit", "frozen"),
    wireheading_seeds: int = 3,
    wireheading_timesteps: int = 40_000,
    wireheading_episodes: int = 200,
    wireheading_regime: str = "anywhere",
    wireheading_candidate: str = "coin",
    wireheading_site: str = "mlp_extractor.policy_net",
    wireheading_refit_every: int = 2,
    margin: float = 0.1,
    progress: Callable[..., None] | None = None,
) -> FeasibilityStudyReport:
    """Run the parts the settings ask for (see the module docstring and `mesaprobe.feasibility_config`)."""
    say = progress or (lambda *_: None)
    simulation = None
    if n_models > 0:
        say("simulation")
        simulation = simulate_feasibility(
            n_models, lambdas=lambdas, n_episodes=n_episodes, n_cooccurrence=n_cooccurrence, quantile=quantile,
            mechanisms=tuple(mechanisms), p_bypass=p_bypass, p_direct=p_direct, p_confounder=p_confounder,
            alpha=alpha, method=method, seed=seed, progress=lambda done, total: say("simulation", done, total),
        )  # fmt: skip
    wireheading = None
    if wireheading_betas:
        wireheading = run_wireheading(
            env=wireheading_env, betas=wireheading_betas, probes=tuple(wireheading_probes), seeds=wireheading_seeds,
            timesteps=wireheading_timesteps, n_episodes=wireheading_episodes, deploy_regime=wireheading_regime,
            candidate=wireheading_candidate, site=wireheading_site, refit_every=wireheading_refit_every,
            margin=margin, alpha=alpha, seed=seed, settings=WIREHEADING_SETTINGS, progress=say,
        )  # fmt: skip
    return FeasibilityStudyReport(name, seed, simulation, wireheading)


__all__ = ["FeasibilityStudyReport", "run_feasibility_analysis"]
