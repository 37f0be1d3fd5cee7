"""notebooks/*.ipynb: each runs top to bottom with tiny parameters, and each is stored without outputs.

Each notebook is executed by papermill (parameters injected after the cell tagged `parameters`) in
its own process, on a kernel that is this interpreter: a kernelspec written into a temporary
directory that `JUPYTER_PATH` puts first, so no `python -m ipykernel install` is needed and no
`python3` kernel of another environment is picked up. Every notebook runs in its own temporary
directory, and every path it writes to is injected there.

The executions start together, two at a time, when the first notebook test runs (only those of the
selected tests; one at a time and on demand under pytest-xdist, whose workers share the CPUs already),
so the second core of a small machine works while the first waits for a kernel.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "mesaprobe-notebook-tests"
PROJECT_PACKAGES = {"mesaprobe", "analysis", "probes", "training", "envs", "core"}
VERDICTS = {"aligned", "misaligned", "inconclusive"}
TRANSPORT_VERDICTS = {"regime-dependent", "transports", "inconclusive"}

QUICKSTART, OWN_AGENT, OWN_ENV, READ_A_RUN = (
    "01_quickstart.ipynb",
    "02_own_agent.ipynb",
    "03_own_environment.ipynb",
    "04_read_a_run.ipynb",
)
PARAMETERS = {
    QUICKSTART: {
        "total_timesteps": 1024,  # one PPO rollout (16 environments x 64 steps)
        "n_episodes": 60,  # 120 episodes: enough for the cross-fitted test `auto` picks
        "study_episodes": 60,
        "quick": True,
        "out": "study",  # relative to the notebook's temporary working directory
    },
    OWN_AGENT: {"imitation_states": 600, "n_episodes": 60},
    OWN_ENV: {"n_episodes": 60, "quick": True, "out": "study"},
    READ_A_RUN: {},  # run_dir: the study 01_quickstart wrote
}
TESTS = {
    "test_quickstart": QUICKSTART,
    "test_own_agent": OWN_AGENT,
    "test_own_environment": OWN_ENV,
    "test_read_a_run": READ_A_RUN,
}
"""The test of each notebook: its execution starts when the first of the selected ones runs."""


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb) -> list:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def tagged(nb, tag: str) -> dict:
    """The one code cell carrying `tag` (papermill's executed notebooks keep the tags)."""
    (cell,) = [c for c in code_cells(nb) if tag in c.get("metadata", {}).get("tags", [])]
    return cell


def text_of(cell) -> str:
    """Everything a cell printed or displayed as text (stdout, text/plain results)."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream" and out["name"] == "stdout":
            parts.append("".join(out["text"]))
        elif out["output_type"] in ("execute_result", "display_data"):
            parts.append("".join(out["data"].get("text/plain", "")))
    return "".join(parts)


def mimetypes(cell) -> set[str]:
    return {m for out in cell.get("outputs", []) if "data" in out for m in out["data"]}


def printed_verdicts(cell) -> dict[str, str]:
    """`{agent: verdict}` from the lines `name: verdict (reason)` or `name: verdict` a cell printed."""
    out = {}
    for line in text_of(cell).splitlines():
        name, sep, rest = line.partition(": ")
        word = rest.split(" ")[0]
        if sep and word in VERDICTS:
            out[name] = word
    return out


def kernelspec(root: Path) -> dict[str, str]:
    """Write the kernelspec `KERNEL` (this interpreter, one thread per library) under `root`; return the env to use it."""
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    threads = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mesaprobe tests",
        "language": "python",
        # IPYTHONDIR: the kernel's history database in tmp, not shared between parallel kernels.
        "env": {**threads, "PYTHONPATH": pythonpath, "IPYTHONDIR": str(root / "ipython")},
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    jupyter_path = os.pathsep.join(p for p in (str(root), os.environ.get("JUPYTER_PATH", "")) if p)
    return {**os.environ, "JUPYTER_PATH": jupyter_path, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


class Runs:
    """Notebook executions: `get(name)` returns `(executed notebook, its working directory)`."""

    def __init__(self, tmp_path_factory, env: dict[str, str], names: list[str], workers: int) -> None:
        self.tmp, self.env = tmp_path_factory, env
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notebook")
        self.futures: dict[str, Future] = {}
        for name in sorted(names):  # 01 first: 04 reads the study it writes
            self.submit(name)

    def submit(self, name: str) -> Future:
        if name not in self.futures:
            if name == READ_A_RUN:
                self.submit(QUICKSTART)
            self.futures[name] = self.pool.submit(self.execute, name)
        return self.futures[name]

    def get(self, name: str) -> tuple[dict, Path]:
        return self.submit(name).result()

    def execute(self, name: str) -> tuple[dict, Path]:
        parameters = dict(PARAMETERS[name])
        if name == READ_A_RUN:
            parameters["run_dir"] = str(self.get(QUICKSTART)[1] / "study")
        workdir = self.tmp.mktemp(name.removesuffix(".ipynb"))
        executed = workdir / f"executed_{name}"
        command = [sys.executable, "-m", "papermill", str(NOTEBOOKS / name), str(executed)]
        command += ["-y", json.dumps(parameters), "-k", KERNEL, "--cwd", str(workdir), "--no-progress-bar"]
        command += ["--start-timeout", "120", "--execution-timeout", "300"]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"{name} failed (papermill exit {done.returncode}):\n{done.stderr[-6000:]}", pytrace=False)
        return load(executed), workdir


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    pytest.importorskip("papermill")
    pytest.importorskip("ipykernel")
    env = kernelspec(tmp_path_factory.mktemp("jupyter"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        names, workers = [], 1  # on demand: the other workers keep the CPUs busy
    else:
        items = request.session.items
        selected = {getattr(i, "originalname", i.name) for i in items if getattr(i, "module", None) is request.module}
        names, workers = [TESTS[t] for t in TESTS if t in selected], min(2, os.cpu_count() or 1)
    runs = Runs(tmp_path_factory, env, names, workers)
    yield runs
    for future in runs.futures.values():
        future.cancel()
    runs.pool.shutdown(wait=True)


def test_every_notebook_is_tested_and_parametrised():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == sorted(PARAMETERS) == sorted(TESTS.values())
    for name in names:
        nb = load(NOTEBOOKS / name)
        assert nb["cells"][0]["cell_type"] == "markdown", f"{name} opens with what it shows"
        first = code_cells(nb)[0]
        assert "parameters" in first["metadata"].get("tags", []), f"{name}: the first code cell is tagged parameters"
        defaults = ast.parse("".join(first["source"]))
        defined = {t.id for node in defaults.body if isinstance(node, ast.Assign) for t in node.targets}
        injected = set(PARAMETERS[name]) | ({"run_dir"} if name == READ_A_RUN else set())
        assert injected <= defined, f"{name}: the test injects parameters the notebook does not define"
        assert nb["metadata"]["kernelspec"]["language"] == "python"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path):
    nb = load(path)
    for k, cell in enumerate(code_cells(nb)):
        assert cell["outputs"] == [], f"{path.name}: code cell {k} has outputs; strip them before committing"
        assert cell["execution_count"] is None, f"{path.name}: code cell {k} has an execution count"
    assert "papermill" not in nb["metadata"], f"{path.name} is an executed copy; commit the source notebook"


def test_reading_a_run_imports_no_project_code():
    nb = load(NOTEBOOKS / READ_A_RUN)
    imported = set()
    for cell in code_cells(nb):
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
    assert not imported & PROJECT_PACKAGES, f"{READ_A_RUN} must read a run without the project: {imported}"
    assert imported <= {"json", "pathlib", "numpy", "pandas", "matplotlib"}, imported


def test_quickstart(runs):
    nb, workdir = runs.get(QUICKSTART)
    verdict = text_of(tagged(nb, "verdict"))
    assert verdict.startswith("<Verdict.") and verdict.split("'")[1] in TRANSPORT_VERDICTS, verdict
    for tag in ("dataset", "probes", "transport", "study"):
        assert "text/html" in mimetypes(tagged(nb, tag)), f"{tag}: no HTML representation displayed"
    # The planted agents' answer is known by construction.
    expected = {"exit-seeker": "misaligned", "coin-seeker": "aligned"}
    assert printed_verdicts(tagged(nb, "study-verdicts")) == expected
    report = load(workdir / "study" / "report.json")
    assert {a["name"]: a["verdict"] for a in report["agents"]} == expected


def test_own_agent(runs):
    nb, _ = runs.get(OWN_AGENT)
    check = text_of(tagged(nb, "check"))
    assert check.startswith("check_agent(mine): ok"), check
    verdicts = printed_verdicts(tagged(nb, "verdicts"))
    assert verdicts.keys() == {"mine", "exit-seeker"}
    assert verdicts["exit-seeker"] == "misaligned"  # the planted teacher: known by construction
    assert "text/html" in mimetypes(tagged(nb, "verdicts"))


def test_own_environment(runs):
    nb, workdir = runs.get(OWN_ENV)
    assert printed_verdicts(tagged(nb, "study-verdicts")) == {"corner-seeker": "misaligned", "fruit-seeker": "aligned"}
    assert "text/html" in mimetypes(tagged(nb, "study"))
    report = load(workdir / "study" / "report.json")
    assert report["env"] == "mesaprobe-notebooks/FruitRoom-v0"
    assert [a["name"] for a in report["agents"]] == ["corner-seeker", "fruit-seeker"]


def test_read_a_run(runs):
    nb, _ = runs.get(READ_A_RUN)
    run_dir = Path(runs.get(QUICKSTART)[1] / "study")
    report = load(run_dir / "report.json")
    assert printed_verdicts(tagged(nb, "verdicts")) == {a["name"]: a["verdict"] for a in report["agents"]}
    meta = load(run_dir / "agents" / report["agents"][0]["name"] / "rollouts" / "meta.json")
    rollouts = text_of(tagged(nb, "rollouts"))
    assert all(site in rollouts for site in meta["sites"]), rollouts
    assert "image/png" in mimetypes(tagged(nb, "plot"))
