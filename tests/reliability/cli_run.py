"""Helpers of the CLI reliability tests: the real `raie` in a child process, home snapshots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SESSION_VARS = ("RAIE_HOME", "MLFLOW_TRACKING_URI", "PREFECT_HOME")
"""The test session's own settings; a child CLI derives them from its --home instead."""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SESSION_VARS}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def command(*args: str) -> list[str]:
    """`raie ARGS` as this worktree's code run from the command line (argv None: the watchdog
    starts as in production)."""
    return [sys.executable, "-m", "flows.cli", *args]


def raie(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout
    )


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(*args),
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The single `raie: error: ...` line of a failed run (exit 1, no traceback), without prefix."""
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("raie: error: "), result.stderr
    return lines[0].removeprefix("raie: error: ")


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root``: (size, mtime_ns), to show that a command changed nothing."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def fake_home(root: Path, dataset: str = "table") -> Path:
    """A home whose ``dataset`` looks set up (CURRENT names v0001): enough for every check a
    writer command makes before it starts Prefect."""
    state = root / "state" / dataset
    state.mkdir(parents=True)
    (state / "CURRENT").write_text("v0001\n")
    (root / "prefect").mkdir()
    return root
