"""Reading the agent: activation capture, rollout collection, probes, probe transport (across shifts and across regimes), attribution, steering, retargeting."""

from probes.attribution import ReadoutModule, attribute_inputs, attribute_neurons, linear_readout
from probes.attribution_maps import (
    CandidateAttributions,
    TargetAttribution,
    candidate_attributions,
    cell_heatmap,
    channel_breakdown,
    channel_heatmaps,
    top_cells,
)
from probes.candidates import CONTROL_SITE, CandidateProbes, ProbeChoice, cross_fit, probe_candidates
from probes.collect import collect
from probes.dataset import RolloutDataset
from probes.estimators import LinearProbe, MLPProbe, Probe, as_probe, probe_score
from probes.hooks import ActivationCache, capture, count_hooks, resolve_modules
from probes.regime_transport import probe_transport_by_regime
from probes.regime_transport_result import RegimeProbeTransport
from probes.retargeting import GoalProbe, goal_probe, pick_target, retarget, retargeting_rate
from probes.spatial import SpatialProbe
from probes.steering import Intervention, random_control, steer, steer_rows, steering_rate
from probes.torch_linear import TorchLogisticRegression, TorchRidge
from probes.transport import ProbeTransport, probe_transport

__all__ = [
    "CONTROL_SITE",
    "ActivationCache",
    "CandidateAttributions",
    "CandidateProbes",
    "Probe",
    "ProbeChoice",
    "GoalProbe",
    "Intervention",
    "LinearProbe",
    "MLPProbe",
    "ProbeTransport",
    "ReadoutModule",
    "RegimeProbeTransport",
    "RolloutDataset",
    "SpatialProbe",
    "TorchLogisticRegression",
    "TorchRidge",
    "TargetAttribution",
    "as_probe",
    "attribute_inputs",
    "attribute_neurons",
    "candidate_attributions",
    "capture",
    "cell_heatmap",
    "channel_breakdown",
    "channel_heatmaps",
    "collect",
    "count_hooks",
    "cross_fit",
    "goal_probe",
    "linear_readout",
    "probe_candidates",
    "probe_score",
    "pick_target",
    "probe_transport",
    "probe_transport_by_regime",
    "random_control",
    "resolve_modules",
    "retarget",
    "retargeting_rate",
    "steer",
    "steer_rows",
    "steering_rate",
    "top_cells",
]
