"""The house's rules hold (README "Layout"): import-linter's contracts in pyproject.toml — the
floors, `losses` importing nothing of geoviz, gradio only under `geoviz.app`, tabs independent —
pass on the checkout, and fail the moment an upward import is added."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is installed by requirements-dev.txt")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache", "--config", "pyproject.toml"], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_the_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "7 kept, 0 broken" in result.stdout


def _copy(tmp_path: Path) -> Path:
    work = tmp_path / "checkout"
    for part in ("geoviz", "losses"):
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__", "assets"))
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    return work


@pytest.mark.parametrize("module, line, contract", [
    ("geoviz/engine/weights.py", "import geoviz.report.figures", "floors"),  # engine reaching up to report
    ("losses/masks.py", "import geoviz.data.readers", "losses is the ground floor"),
    ("geoviz/engine/scale.py", "import gradio", "only geoviz.app imports gradio"),
])
def test_an_upward_import_breaks_a_contract(tmp_path, module, line, contract):
    work = _copy(tmp_path)
    path = work / module
    path.write_text(path.read_text() + f"\n{line}  # an upward import\n")
    result = _lint(work)
    assert result.returncode != 0
    assert contract in result.stdout.split("Broken contracts")[-1]


def test_no_function_local_import_of_a_geoviz_module_dodges_a_circle():
    """A function-local import of geoviz is allowed only to defer a heavy optional import (gradio,
    for `geoviz serve`), and says so on the line before; none dodges a circle."""
    found = []
    for path in (ROOT / "geoviz").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("geoviz") or (
                        isinstance(node, ast.Import) and any(a.name.startswith("geoviz") for a in node.names)):
                    found.append((str(path.relative_to(ROOT)), node.module or node.names[0].name))
    # `geoviz serve` imports the dashboard (and gradio, ~2 s) only when asked for; `evaluate` never does
    assert [f for f in found if f != ("geoviz/cli.py", "geoviz.app.serve")] == []


def test_no_private_name_crosses_a_module_boundary():
    found = []
    for path in list((ROOT / "geoviz").rglob("*.py")) + list((ROOT / "losses").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("geoviz", "losses"):
                found += [f"{path.relative_to(ROOT)}:{node.lineno} {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []


def test_the_tests_of_losses_import_no_geoviz():
    """tests/losses mirrors losses: it runs where only losses is installed."""
    found = []
    for path in (ROOT / "tests" / "losses").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.name}:{node.lineno}" for n in names if n.split(".")[0] == "geoviz"]
    assert found == []
