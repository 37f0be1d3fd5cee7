"""Names shared by several layers, each a `Literal` with its tuple of values derived from it."""

from __future__ import annotations

from typing import Literal, get_args

AgentKind = Literal["sb3", "planted", "torch"]
"""How a study gets an agent: trained with Stable-Baselines3 PPO, a planted planner, or a user's torch module."""
AGENT_KINDS: tuple[str, ...] = get_args(AgentKind)

ProbeKind = Literal["logistic", "ridge"]
"""Linear probe families of the candidate probes (`probes.LinearProbe`)."""
PROBE_KINDS: tuple[str, ...] = get_args(ProbeKind)

TransportProbeKind = Literal["logistic", "mlp"]
"""Probe families scored at every shift by probe transport: linear and non-linear."""
TRANSPORT_PROBE_KINDS: tuple[str, ...] = get_args(TransportProbeKind)

CIMethod = Literal[
    "auto", "pcm", "gcm", "rff_kernel", "dowhy_kernel", "dowhy_approx_kernel", "dowhy_regression", "dowhy_gcm"
]
"""Conditional-independence tests `analysis.ci_test` runs (`auto` chooses; see its docstring)."""
CI_METHODS: tuple[str, ...] = get_args(CIMethod)
