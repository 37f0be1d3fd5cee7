"""Run the `mesaprobe` command in a subprocess, as a user does."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mesaprobe(*args, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m mesaprobe ARGS` with the repository on the path; output captured as text."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mesaprobe", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
