"""The dependency rule of HOUSE_STYLE: flows -> tasks -> raie_core, never back.

raie_core imports no prefect/mlflow/tasks/flows and reads neither os.environ nor sys.argv;
tasks imports no flows; only tasks/tracking.py imports mlflow, and the bank's pyfunc model
code (tasks/bank_pyfunc.py, which MLflow runs "from code" and which needs its PythonModel).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_MODULES = ("tracking.py", "bank_pyfunc.py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _attribute_reads(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }


def _py_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _py_files("raie_core"), ids=lambda p: p.name)
def test_core_imports_no_orchestration(path: Path) -> None:
    forbidden = {"prefect", "mlflow", "tasks", "flows", "prefect_dask"}
    assert not (_imports(path) & forbidden), f"{path} imports {_imports(path) & forbidden}"
    assert not ({"os.environ", "sys.argv", "os.getenv"} & _attribute_reads(path)), path


@pytest.mark.parametrize("path", _py_files("tasks"), ids=lambda p: p.name)
def test_tasks_do_not_import_flows(path: Path) -> None:
    imported = _imports(path)
    assert "flows" not in imported, f"{path} imports flows"
    if path.name not in MLFLOW_MODULES:
        assert "mlflow" not in imported, f"{path} imports mlflow; only {MLFLOW_MODULES} may"


def test_rule_detects_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom prefect import flow\nx = os.environ['A']\n")
    assert "prefect" in _imports(bad)
    assert "os.environ" in _attribute_reads(bad)
