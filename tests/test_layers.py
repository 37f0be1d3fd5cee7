"""The layer order `core → envs → training → probes → analysis → mesaprobe`: a module imports only layers to its left."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "envs", "training", "probes", "analysis", "mesaprobe"]


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_layers_to_its_left(layer):
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) - allowed)
        for path in sorted((ROOT / layer).rglob("*.py"))
        if _imported_packages(path) - allowed
    }
    assert not offenders, f"{layer} may import only {sorted(allowed)}; found {offenders}"


def test_the_layer_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom analysis.ci import ci_test\n\ndef f():\n    import mesaprobe.cli\n")
    assert _imported_packages(bad) == {"analysis", "mesaprobe"}


def test_no_library_function_is_named_like_a_test():
    named = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for layer in LAYERS
        for path in sorted((ROOT / layer).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
    ]
    assert not named, f"pytest would collect these library functions: {named}"
