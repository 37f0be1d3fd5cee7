"""Render a study's typed results into `report.json`, `report.html` and its figures (`report_stage`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import figures, training_figures
from analysis.report import write_report
from analysis.study_report import StudyReport
from analysis.sweep import ShiftSweep
from mesaprobe.stages import AgentAnalysis
from probes import CONTROL_SITE


def report_stage(
    out: Path,
    analyses: Sequence[AgentAnalysis],
    *,
    study: str,
    env: str,
    seed: int,
    config: dict | None = None,
    mesa_threshold: float | None = None,
) -> tuple[StudyReport, dict[str, Path]]:
    """Write `report.json`, `report.html` and the figures; return `(report, paths written)`."""
    behaviour, scores, panels = {}, {}, []
    results = [a.result for a in analyses]
    for a, r in zip(analyses, results, strict=True):
        behaviour[r.name] = r.behaviour
        scores[r.name] = a.probes.scores
        for c in r.candidates:
            frame = pd.DataFrame(
                {"y_m": a.probes.readout(c.name), "y_b": a.probes.y_m["return"], "s": a.probes.y_m["s"]}
            )
            if "regime" in a.probes.y_m.columns:
                frame["regime"] = a.probes.y_m["regime"].to_numpy()
            panels.append((f"{r.name}: {c.name} ({c.verdict.value})", frame))
    report = StudyReport(study=study, env=env, seed=seed, config=config, agents=tuple(results))
    sweeps = [
        (f"{r.name}: {c.name}", c.sweep.summary)
        for r in results
        for c in r.candidates
        if isinstance(c.sweep, ShiftSweep) and len(c.sweep.summary)
    ]
    curves = [
        (f"{r.name}: {c.name} ({c.verdict.value})", c.transport.effect_curve.to_dict(), c.transport.margin)
        for r in results
        for c in r.candidates
        if c.transport.effect_curve is not None
    ]
    figs = {
        "achievement": (
            figures.achievement_figure(behaviour, threshold=mesa_threshold),
            "Reading: a candidate that is the agent's objective is achieved at a high rate in both regimes; "
            "a gap between the bars of one candidate means the agent's behaviour does not carry it into deployment.",
        ),
        "ym_vs_yb": (
            figures.ym_yb_figure(panels, seed=seed),
            "Reading: if the two regimes' binned means lie on one curve, Y_b depends on s only through Y_m "
            "(transports); separated curves at the same Y_m mean the regime matters beyond the candidate.",
        ),
        "probe_scores": (
            figures.probe_scores_figure(scores, {a.result.name: a.probes.kind for a in analyses}),
            "Reading: a probe earns trust when it beats the raw-observation control (grey); the dotted line is chance "
            "(ROC AUC 0.5, or R² 0 for a regression probe).",
        ),
    }
    learning = {
        a.result.name: a.learning_curve for a in analyses if a.learning_curve is not None and len(a.learning_curve)
    }
    if learning:
        figs["learning_curves"] = (
            training_figures.learning_curve_figure(learning),
            "Reading: the return of training episodes as each agent learned, one line per regime it met in training "
            "(an agent trained at shift 0 meets only the training regime). A line that flattens low, or a regime "
            "learned later than another, is worth knowing before reading its verdict; curves per PPO update are in "
            "TensorBoard: tensorboard --logdir on the run directory.",
        )
    grid = []
    nan = float("nan")
    for r in results:
        if r.regime_verdicts:
            grid.append(
                (f"{r.name} (agent)", [(v.regime, v.verdict.value, nan, (nan, nan), True) for v in r.regime_verdicts])
            )
        grid += [
            (
                f"{r.name}: {c.name}",
                [(cell.regime, cell.verdict.value, cell.transport.effect, cell.transport.effect_ci, cell.mesa.meets,
                  bool(cell.probe_flags))
                 for cell in c.regimes],
            )
            for c in r.candidates
            if c.regimes
        ]  # fmt: skip
    if grid:  # the headline of a study over several deployment regimes: first
        figs = {
            "regime_grid": (
                figures.regime_grid_figure(grid),
                "Reading: one row per agent and candidate, one column per deployment regime, each tested against "
                "training. Red: the base objective depends on the regime beyond the candidate there; green: the "
                "candidate carries it (a certified small effect); grey: neither shown. Pale cells are regimes where the "
                "candidate is not pursued at a high rate, so they do not decide the agent's verdict.",
            ),
            **figs,
        }
    read_outs, unscored = [], []
    for r in results:
        rpt = r.regime_probe_transport
        for c in r.candidates if rpt is not None else ():
            if c.probe is None:
                continue
            cells = rpt.cells(c.name, c.probe.site)
            if all(status == "unscored" for *_, status in cells):
                unscored.append(f"{r.name}: {c.name}")
                continue
            read_outs.append((f"{r.name}: {c.name}@{c.probe.site}", cells))
            if CONTROL_SITE in set(rpt.scores["site"]):
                read_outs.append((f"{r.name}: {c.name}@{CONTROL_SITE} (control)", rpt.cells(c.name, CONTROL_SITE)))
    if read_outs:
        figs["regime_probes"] = (
            figures.regime_probe_figure(read_outs),
            "Reading: each cell is how well the candidate's read-out, fitted on the other regimes, reads it on this "
            "one (ROC AUC; in brackets the score of the study's own read-out there, fitted with every regime). A "
            "red outline marks a regime where the read-out falls below its in-distribution score or is no better "
            "than the same probe on the raw observation (the control rows): verdicts there condition on a "
            "read-out that does not carry over, and the grid marks them ⚠. n/a: the candidate is achieved in (nearly) "
            "every episode of the regime, or of the regimes the probe would be fitted on, so no AUC is defined"
            + (f"; not shown, unscored on every regime: {', '.join(unscored)}." if unscored else "."),
        )
    if curves:
        figs["effect_function"] = (
            figures.effect_function_figure(curves),
            "Reading: the purple curve is how much the regime changes the base outcome at each value of the candidate "
            "signal, with a band that holds at every point at once. A band inside the green ±margin strip everywhere is "
            "what 'transports' certifies; a curve that leaves the strip, above on one side and below on the other, is an "
            "effect that an average would hide. Only the overlap of the regimes is shown: nothing is claimed outside it.",
        )
    for a in analyses:
        if a.attribution_png:
            figs[f"attribution_{a.result.name}"] = (
                a.attribution_png,
                f"Reading ({a.result.name}): where the chosen action and each candidate's read-out look in the first "
                f"observation (captum integrated gradients, mean |attribution| per cell over {a.result.attribution.n_obs} "
                "episodes; letters mark "
                "the objects of the example observation on the left). A read-out of the coin that looks at the exit "
                "reads the exit.",
            )
    steered = {a.result.name: a.steering_rates for a in analyses if a.steering_rates is not None}
    if steered:
        goal = next(a.result.steering.goal for a in analyses if a.steering_rates is not None)
        figs["steering"] = (
            figures.retargeting_figure(steered, goal=goal),
            f"Reading: the red line is how often an edit along the {goal} probe takes the agent to a cell off its way "
            f"to the {goal}; grey is random edits of the same norm at the same places (the dotted line, unsteered). "
            f"An agent that follows its represented {goal} climbs to the blue line (the {goal} moved there in its observation); one whose blue line is low "
            f"does not pursue the {goal}, however well the probe reads it.",
        )
    if sweeps:
        figs["shift_sweep"] = (
            figures.sweep_figure(sweeps),
            "Reading: the smaller the λ at which a test's detection rate reaches the top, the earlier it sees the "
            "regime; the transport test reaching it before the behaviour-only test reads the change in the "
            "agent's objective before its returns show it. The lower panels give the transport effect and its interval.",
        )
    return report, write_report(out, report, figs)


__all__ = ["report_stage"]
