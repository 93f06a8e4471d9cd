"""Which code produced a run: the git commit of the checkout, else the installed version.

Recorded on every MLflow run (`tasks.lineage`) under MLflow's own tag
`mlflow.source.git.commit` (the UI links it) and `raie.code_version`.
"""

from __future__ import annotations

import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import raie_core

CODE_ROOT = Path(__file__).resolve().parents[1]
"""The checkout the code runs from (tasks/ sits at its root)."""
GIT_TIMEOUT_S = 10.0
"""How long `git rev-parse` may take before the run records the package version instead."""
GIT_COMMIT_TAG = "mlflow.source.git.commit"
CODE_VERSION_TAG = "raie.code_version"


@cache
def code_version() -> dict[str, str]:
    """The run tags naming the code: ``{GIT_COMMIT_TAG: sha, CODE_VERSION_TAG: sha}`` (sha
    suffixed "-dirty" in the latter when tracked files changed) in a git checkout, else
    ``{CODE_VERSION_TAG: "raie==<version>"}``."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {CODE_VERSION_TAG: f"raie=={_package_version()}"}
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {GIT_COMMIT_TAG: commit, CODE_VERSION_TAG: commit + ("-dirty" if dirty else "")}


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(CODE_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _package_version() -> str:
    try:
        return version("raie")
    except PackageNotFoundError:
        return raie_core.__version__
