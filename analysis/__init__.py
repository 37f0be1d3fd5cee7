"""Statistics: conditional-independence tests, the transport test, verdicts, selection diagrams, sensitivity, figures and reports."""

from analysis.banned_routes import MechanismResponse, mechanism_response
from analysis.calibration import FamilyRates, RejectionRate, VerdictRates, family_rates, rejection_rate, verdict_rates
from analysis.ci import CI_METHODS, OWN_METHODS, CIMethod, CITestResult, choose_method, ci_test
from analysis.effect_function import EffectCurve, EffectMagnitude
from analysis.feasibility import FeasibilityResult, simulate_feasibility
from analysis.feasibility_scm import RandomSCM, random_scm
from analysis.feasibility_study import FeasibilityStudyReport, run_feasibility_analysis
from analysis.graphs import GraphCheck, GraphReport, LocalTest, SelectionDiagram
from analysis.impact import EpisodeMeasures, episode_measures, planning_grid
from analysis.impact_study import ImpactStudyReport, run_impact_analysis
from analysis.incentives import ControlIncentives, InfluenceDiagram, control_incentives, training_diagram
from analysis.learners import LEARNERS
from analysis.mesa import agent_verdict, mesa_condition
from analysis.oracle import (
    LEAKAGE_DESIGNS,
    LeakageCheck,
    ManipulationMeasure,
    leakage_check,
    leakage_rate,
    manipulation_measure,
)
from analysis.oracle_probe import ReadRepresentation, read_representation
from analysis.refutation import refute_direct_effect
from analysis.regime_sensitivity import RegimeSensitivity, regime_sensitivity
from analysis.results import (
    AgentResult,
    CandidateResult,
    MesaCondition,
    RegimeBehaviour,
    RegimeCell,
    RegimeVerdict,
)
from analysis.retargeting import RetargetingSummary, SteeringSection, retargeting_reading, summarize_retargeting
from analysis.scm import SCENARIOS, Scenario, simulate
from analysis.scm_family import FAMILY_SCENARIOS, FamilyScenario, simulate_family
from analysis.sensitivity import DirectEffect, SensitivityResult, direct_effect
from analysis.study_report import StudyReport
from analysis.transport import TransportResult, decide, partially_linear_effect, transport_test
from analysis.transport_family import FamilyTransportResult, RegimeTransport
from analysis.verdicts import AgentVerdict, Verdict
from analysis.wireheading_study import WireheadingReport, run_wireheading

__all__ = [
    "ControlIncentives",
    "FeasibilityResult",
    "FeasibilityStudyReport",
    "InfluenceDiagram",
    "RandomSCM",
    "WireheadingReport",
    "control_incentives",
    "random_scm",
    "run_feasibility_analysis",
    "run_wireheading",
    "simulate_feasibility",
    "training_diagram",
    "agent_verdict",
    "AgentResult",
    "AgentVerdict",
    "CandidateResult",
    "choose_method",
    "CI_METHODS",
    "ci_test",
    "CIMethod",
    "CITestResult",
    "decide",
    "direct_effect",
    "DirectEffect",
    "EffectCurve",
    "EffectMagnitude",
    "family_rates",
    "FAMILY_SCENARIOS",
    "FamilyRates",
    "FamilyScenario",
    "FamilyTransportResult",
    "GraphCheck",
    "GraphReport",
    "leakage_check",
    "LEAKAGE_DESIGNS",
    "leakage_rate",
    "EpisodeMeasures",
    "episode_measures",
    "planning_grid",
    "ImpactStudyReport",
    "run_impact_analysis",
    "ReadRepresentation",
    "read_representation",
    "LeakageCheck",
    "LEARNERS",
    "LocalTest",
    "manipulation_measure",
    "ManipulationMeasure",
    "mesa_condition",
    "MesaCondition",
    "OWN_METHODS",
    "partially_linear_effect",
    "refute_direct_effect",
    "regime_sensitivity",
    "RegimeBehaviour",
    "RegimeCell",
    "RegimeSensitivity",
    "RegimeTransport",
    "RegimeVerdict",
    "rejection_rate",
    "RejectionRate",
    "retargeting_reading",
    "RetargetingSummary",
    "Scenario",
    "SCENARIOS",
    "SelectionDiagram",
    "SensitivityResult",
    "simulate",
    "simulate_family",
    "SteeringSection",
    "StudyReport",
    "summarize_retargeting",
    "transport_test",
    "TransportResult",
    "Verdict",
    "verdict_rates",
    "VerdictRates",
    "MechanismResponse",
    "mechanism_response",
]
