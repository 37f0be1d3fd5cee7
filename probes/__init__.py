"""Reading the agent: activation capture, rollout collection, probes."""

from probes.candidates import CONTROL_SITE, CandidateProbes, cross_fit, probe_candidates
from probes.collect import collect
from probes.dataset import RolloutDataset
from probes.estimators import LinearProbe, probe_score
from probes.hooks import ActivationCache, capture, count_hooks, resolve_modules
from probes.transport import MLPProbe, ProbeTransport, SpatialProbe, probe_transport

__all__ = [
    "CONTROL_SITE",
    "ActivationCache",
    "CandidateProbes",
    "LinearProbe",
    "MLPProbe",
    "ProbeTransport",
    "RolloutDataset",
    "SpatialProbe",
    "capture",
    "collect",
    "count_hooks",
    "cross_fit",
    "probe_candidates",
    "probe_score",
    "probe_transport",
    "resolve_modules",
]
