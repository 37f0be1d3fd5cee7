"""Run the `mesaprobe` command in a subprocess, as a user does."""

import math
import os
import re
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


LOOSE = ("magnitude.curve",)
"""Report paths compared by shape only: the effect function's curve is estimated on the units whose regime
propensity clears a cut-off, and which units clear it moves with the last digits of the probe's fit (between
an Intel and an AMD EPYC host, one unit of 400 crossed it and one point of a curve moved from 0.19 to 0.99)."""


def report_differences(actual, reference, path: str = "$", rel: float = 1e-2) -> list[str]:
    """Where two `report.json` contents differ: keys and their order, types, strings (numbers in them masked),
    and floats beyond `rel`; `LOOSE` paths by shape only.

    The same seed on another CPU moves the last digits of BLAS sums and of the trained weights, and some
    derived numbers further: between an Intel host and an AMD EPYC one (2026-12-03), p-values moved by 3e-6,
    the tiny study's upper RMS bound by 0.7 % and an overlap share by 0.5 % (and the percentage in its warning).
    """
    if isinstance(reference, dict):
        if not isinstance(actual, dict) or list(actual) != list(reference):
            return [
                f"{path}: keys {list(actual) if isinstance(actual, dict) else type(actual).__name__} != {list(reference)}"
            ]
        return [d for k in reference for d in report_differences(actual[k], reference[k], f"{path}.{k}", rel)]
    if isinstance(reference, list):
        if not isinstance(actual, list) or len(actual) != len(reference):
            return [f"{path}: {actual!r:.80} != {reference!r:.80}"]
        if any(part in path for part in LOOSE):
            return []
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
    if isinstance(reference, str) and isinstance(actual, str):
        same = re.sub(r"\d+", "#", actual) == re.sub(r"\d+", "#", reference)
        return [] if same else [f"{path}: {actual!r:.80} != {reference!r:.80}"]
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
