"""Statistics: conditional-independence tests, the transport test, verdicts, figures and reports."""

from analysis.ci import CI_METHODS, CIMethod, CITestResult, ci_test
from analysis.mesa import agent_verdict, mesa_condition
from analysis.transport import TransportResult, partially_linear_effect, transport_test
from analysis.verdicts import AgentVerdict, Verdict

__all__ = [
    "CI_METHODS",
    "AgentVerdict",
    "CIMethod",
    "CITestResult",
    "TransportResult",
    "Verdict",
    "agent_verdict",
    "ci_test",
    "mesa_condition",
    "partially_linear_effect",
    "transport_test",
]
