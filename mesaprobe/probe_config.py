"""The `probe:` section of a study config: which probe reads the candidates, probe transport,
attribution, and steering along a goal probe."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError, suggest
from core.vocab import PROBE_KINDS, ProbeKind
from probes.estimators import LinearProbe, as_probe


@dataclass(frozen=True)
class SteeringConfig:
    """Retargeting along a spatial probe of a goal's cell (`probes.retargeting`), per agent."""

    goal: str
    """The object whose cell is probed and moved; the environment's ground truth must give `<goal>_row`/`<goal>_col`."""
    site: str = "features_extractor.conv.0"
    """Grid-shaped module (its output is C maps of the observation's H x W) of learned agents to probe and edit."""
    sites: dict[str, str] = field(default_factory=dict)
    """Per-agent sites (agent name -> module), overriding `site`; planted agents default to their `goal` map."""
    kernel: int = 3
    """Side of the spatial probe's read-out around each cell (odd)."""
    probe_alpha: float = 10.0
    """L2 penalty of the spatial probe. A strong penalty turns its weights towards the mean difference
    of the activations with and without the goal, the direction that steers best."""
    probe_episodes: int = 300
    """Episodes (first steps) the probe is fitted and scored on (a quarter held out)."""
    min_accuracy: float = 0.5
    """A probe below this held-out accuracy reads no goal: steering along it is skipped, with the reason."""
    scales: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    """Edit strengths, in units of the probe's margin (1 swaps the read-outs of the goal's cell and the target)."""
    n_episodes: int = 50
    """Mazes per condition, each with its own target cell off the way to the goal."""
    n_select_episodes: int = 100
    """Other mazes on which the strength is chosen (steered only), so that the reported rate is not
    the best of several noisy ones."""
    n_controls: int = 3
    """Random-direction controls of the same norm per strength."""
    shift: float = 1.0
    """Regime mixture the mazes are drawn from (1: deployment, the goal anywhere)."""

    def __post_init__(self) -> None:
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"probe.steering.kernel must be an odd positive integer, got {self.kernel}.")
        if self.probe_alpha <= 0:
            raise ConfigError(f"probe.steering.probe_alpha must be > 0, got {self.probe_alpha}.")
        if not 0.0 <= self.min_accuracy <= 1.0:
            raise ConfigError(f"probe.steering.min_accuracy must be in [0, 1], got {self.min_accuracy}.")
        if self.probe_episodes < 20:
            raise ConfigError(f"probe.steering.probe_episodes must be >= 20, got {self.probe_episodes}.")
        if not self.scales or any(not (math.isfinite(x) and x > 0) for x in self.scales):
            raise ConfigError(f"probe.steering.scales must be positive numbers, got {list(self.scales)}.")
        if self.n_episodes < 1 or self.n_select_episodes < 1 or self.n_controls < 0:
            raise ConfigError(
                f"probe.steering.n_episodes and n_select_episodes must be >= 1 and n_controls >= 0, got "
                f"{self.n_episodes}, {self.n_select_episodes}, {self.n_controls}."
            )
        if not 0.0 <= self.shift <= 1.0:
            raise ConfigError(f"probe.steering.shift must be in [0, 1], got {self.shift}.")

    def site_for(self, agent: str, planted: bool) -> str:
        """The module steered in `agent`."""
        return self.sites.get(agent, "goal" if planted else self.site)


@dataclass(frozen=True)
class ProbeConfig:
    """Probes that read each candidate out of the activations."""

    kind: ProbeKind = "logistic"
    """Probe family: logistic (binary achievement) or ridge."""
    alpha: float = 1.0
    """L2 penalty of the probe."""
    n_folds: int = 5
    """Cross-fitting folds over episodes."""
    transport: bool = True
    """Score every probe at every collected shift, linear and non-linear side by side, against the
    observation control (`probes.probe_transport`); conclusions that condition on a probe it flags
    are marked in the report."""
    attribution: bool = True
    """Attribute each candidate's read-out and the chosen action to input cells (captum integrated
    gradients on 64 first observations; heatmaps in the report). Needs a grid observation."""
    steering: SteeringConfig | None = None
    """Retarget each agent along a spatial probe of a goal's cell (e.g. `{goal: cheese}`); off when absent."""
    estimator: str | None = None
    """A scikit-learn classifier to probe with instead of `kind`, by dotted class path (e.g.
    `sklearn.linear_model.RidgeClassifier`, `sklearn.neural_network.MLPClassifier`); built with
    `estimator_params`."""
    estimator_params: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of `estimator` (e.g. `{alpha: 1.0}`)."""
    device: str = "cpu"
    """Torch device of the built-in linear probes: cpu (scikit-learn's solvers), cuda or auto (the same
    objectives solved by torch there, `probes.torch_linear`)."""

    def __post_init__(self) -> None:
        if self.kind not in PROBE_KINDS:
            raise ConfigError(
                f"probe.kind must be one of {list(PROBE_KINDS)}, got {self.kind!r}.{suggest(self.kind, PROBE_KINDS)}"
            )
        if self.alpha <= 0:
            raise ConfigError(f"probe.alpha must be > 0, got {self.alpha}.")
        if self.n_folds < 2:
            raise ConfigError(f"probe.n_folds must be >= 2, got {self.n_folds}.")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"probe.device must be cpu, cuda or auto, got {self.device!r}.")
        if self.estimator is not None:
            self.build_estimator()  # a bad path or parameter stops the study here, not after training
        elif self.estimator_params:
            raise ConfigError("probe.estimator_params are given without probe.estimator; name the estimator class.")

    def build_estimator(self):
        """The configured scikit-learn estimator (unfitted), or `None` for the built-in `kind` on the CPU."""
        if self.estimator is None:
            return None if self.device == "cpu" else LinearProbe(self.kind, self.alpha, device=self.device)
        module_name, _, name = self.estimator.rpartition(".")
        try:
            module = importlib.import_module(module_name) if module_name else None
        except ImportError as err:
            raise ConfigError(f"probe.estimator {self.estimator!r}: cannot import {module_name!r} ({err}).") from err
        cls = getattr(module, name, None)
        if module is not None and cls is None:
            names = [n for n in dir(module) if not n.startswith("_")]
            raise ConfigError(f"probe.estimator: {module_name} has no {name!r}.{suggest(name, names)}")
        if cls is None or not isinstance(cls, type):
            raise ConfigError(
                f"probe.estimator {self.estimator!r} is not a class; give a dotted path such as "
                f"'sklearn.linear_model.LogisticRegression'."
            )
        try:
            return as_probe(cls(**self.estimator_params))
        except TypeError as err:
            raise ConfigError(f"probe.estimator_params do not fit {cls.__name__}: {err}") from err
