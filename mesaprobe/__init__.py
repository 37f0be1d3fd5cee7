"""mesaprobe: probe trained RL agents for mesa-optimization.

The application layer: the `mesaprobe` command, study configs and the pipeline that wires
`envs -> training -> probes -> analysis`.
"""

from core.errors import (
    AgentError,
    ConfigError,
    DataError,
    MesaprobeError,
    MesaprobeWarning,
    UnknownNameError,
)
from mesaprobe.config import StudyConfig, demo_config, load_config
from mesaprobe.pipeline import StudyResult, run_study

__version__ = "0.1.0"

__all__ = [
    "AgentError",
    "ConfigError",
    "DataError",
    "MesaprobeError",
    "MesaprobeWarning",
    "StudyConfig",
    "StudyResult",
    "UnknownNameError",
    "__version__",
    "demo_config",
    "load_config",
    "run_study",
]
