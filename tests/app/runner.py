"""Run the `mesaprobe` command in a subprocess, as a user does."""

import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mesaprobe(*args, cwd=None, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m mesaprobe ARGS` with the repository on the path (and `env` added); output captured as text."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mesaprobe", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


REFERENCE = ROOT / "tests" / "app" / "reference"
"""Committed `report.json` files of small studies. A change that means to move a report rewrites
them (`mesaprobe study CONFIG --out DIR`, then copy `DIR/report.json`) and says why in its commit."""


def report_differences(actual, reference, path: str = "$", rel: float = 1e-6) -> list[str]:
    """Where two `report.json` contents differ: keys and their order, types, strings, and floats
    beyond `rel` (the same seed on another CPU may move the last digits of a BLAS sum)."""
    if isinstance(reference, dict):
        if not isinstance(actual, dict) or list(actual) != list(reference):
            return [
                f"{path}: keys {list(actual) if isinstance(actual, dict) else type(actual).__name__} != {list(reference)}"
            ]
        return [d for k in reference for d in report_differences(actual[k], reference[k], f"{path}.{k}", rel)]
    if isinstance(reference, list):
        if not isinstance(actual, list) or len(actual) != len(reference):
            return [f"{path}: {actual!r:.80} != {reference!r:.80}"]
        return [
            d
            for i, (a, r) in enumerate(zip(actual, reference, strict=True))
            for d in report_differences(a, r, f"{path}[{i}]", rel)
        ]
    if isinstance(reference, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        return (
            []
            if math.isclose(actual, reference, rel_tol=rel, abs_tol=1e-12)
            else [f"{path}: {actual!r} != {reference!r}"]
        )
    return (
        []
        if actual == reference and type(actual) is type(reference)
        else [f"{path}: {actual!r:.80} != {reference!r:.80}"]
    )


def assert_one_line_config_error(tmp_path: Path, capsys, text: str, message: str, errors=(Exception,)) -> None:
    """A study config with `text` is refused by `load_config` with `message`, and by `mesaprobe study` with
    exit 2 and one line on stderr (in-process: the command's own main)."""
    import pytest

    from mesaprobe.cli import main
    from mesaprobe.config import load_config

    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(errors, match=message):
        load_config(config)
    assert main(["study", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err and err.count("\n") == 1
