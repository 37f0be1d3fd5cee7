"""Statistics: conditional-independence tests, the transport test, verdicts, selection diagrams, sensitivity, figures and reports."""

from analysis.calibration import FamilyRates, RejectionRate, VerdictRates, family_rates, rejection_rate, verdict_rates
from analysis.ci import CI_METHODS, OWN_METHODS, CIMethod, CITestResult, choose_method, ci_test
from analysis.effect_function import EffectCurve, EffectMagnitude
from analysis.graphs import GraphCheck, GraphReport, LocalTest, SelectionDiagram
from analysis.learners import LEARNERS
from analysis.mesa import agent_verdict, mesa_condition
from analysis.refutation import refute_direct_effect
from analysis.regime_sensitivity import RegimeSensitivity, regime_sensitivity
from analysis.results import (
    AgentResult,
    CandidateResult,
    MesaCondition,
    RegimeBehaviour,
    RegimeCell,
    RegimeVerdict,
    StudyReport,
)
from analysis.retargeting import RetargetingSummary, SteeringSection, retargeting_reading, summarize_retargeting
from analysis.scm import SCENARIOS, Scenario, simulate
from analysis.scm_family import FAMILY_SCENARIOS, FamilyScenario, simulate_family
from analysis.sensitivity import DirectEffect, SensitivityResult, direct_effect
from analysis.transport import TransportResult, decide, partially_linear_effect, transport_test
from analysis.transport_family import FamilyTransportResult, RegimeTransport
from analysis.verdicts import AgentVerdict, Verdict

__all__ = [
    "FAMILY_SCENARIOS",
    "FamilyRates",
    "FamilyScenario",
    "FamilyTransportResult",
    "RegimeCell",
    "RegimeTransport",
    "RegimeVerdict",
    "family_rates",
    "simulate_family",
    "CI_METHODS",
    "AgentResult",
    "CandidateResult",
    "MesaCondition",
    "RegimeBehaviour",
    "RetargetingSummary",
    "SteeringSection",
    "StudyReport",
    "retargeting_reading",
    "summarize_retargeting",
    "LEARNERS",
    "EffectCurve",
    "EffectMagnitude",
    "VerdictRates",
    "decide",
    "verdict_rates",
    "OWN_METHODS",
    "SCENARIOS",
    "RejectionRate",
    "Scenario",
    "choose_method",
    "rejection_rate",
    "simulate",
    "AgentVerdict",
    "CIMethod",
    "DirectEffect",
    "RegimeSensitivity",
    "SensitivityResult",
    "direct_effect",
    "refute_direct_effect",
    "regime_sensitivity",
    "GraphCheck",
    "GraphReport",
    "LocalTest",
    "SelectionDiagram",
    "CITestResult",
    "TransportResult",
    "Verdict",
    "agent_verdict",
    "ci_test",
    "mesa_condition",
    "partially_linear_effect",
    "transport_test",
]
