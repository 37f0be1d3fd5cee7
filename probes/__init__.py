"""Reading the agent: activation capture, rollout collection, probes, probe transport, attribution, steering."""

from probes.attribution import (
    ReadoutModule,
    attribute_inputs,
    attribute_neurons,
    attribution_figure,
    candidate_attributions,
    cell_heatmap,
    channel_breakdown,
    channel_heatmaps,
    linear_readout,
    top_cells,
)
from probes.candidates import CONTROL_SITE, CandidateProbes, cross_fit, probe_candidates
from probes.collect import collect
from probes.dataset import RolloutDataset
from probes.estimators import LinearProbe, MLPProbe, probe_score
from probes.hooks import ActivationCache, capture, count_hooks, resolve_modules
from probes.steering import Intervention, random_control, steer, steering_rate
from probes.transport import ProbeTransport, SpatialProbe, probe_transport

__all__ = [
    "CONTROL_SITE",
    "ActivationCache",
    "CandidateProbes",
    "Intervention",
    "LinearProbe",
    "MLPProbe",
    "ProbeTransport",
    "ReadoutModule",
    "RolloutDataset",
    "SpatialProbe",
    "attribute_inputs",
    "attribute_neurons",
    "attribution_figure",
    "candidate_attributions",
    "capture",
    "cell_heatmap",
    "channel_breakdown",
    "channel_heatmaps",
    "collect",
    "count_hooks",
    "cross_fit",
    "linear_readout",
    "probe_candidates",
    "probe_score",
    "probe_transport",
    "random_control",
    "resolve_modules",
    "steer",
    "steering_rate",
    "top_cells",
]
