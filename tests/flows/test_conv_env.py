"""Every flow resolves its MLflow store from its own home (flows/env.configure_stores): the
home's `mlflow.db`, unless the user pointed MLFLOW_TRACKING_URI elsewhere; Dask workers of a
CLI run report to the run's own Prefect server."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows import env


def test_each_home_gets_its_own_store_unless_the_user_chose_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = env.configure_stores(tmp_path / "a")
    assert first == (tmp_path / "a").resolve()
    assert env.os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{first / 'mlflow.db'}"
    second = env.configure_stores(tmp_path / "b")  # a later flow of the same process
    assert env.os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{second / 'mlflow.db'}"

    chosen = f"sqlite:///{tmp_path / 'team.db'}"  # the user's own store (a server is probed)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", chosen)
    env.configure_stores(tmp_path / "c")
    assert env.os.environ["MLFLOW_TRACKING_URI"] == chosen


def test_every_flow_configures_its_stores() -> None:
    root = Path(env.__file__).parent
    for name in ("setup.py", "nightly_update.py", "backfill.py", "benchmark.py"):
        assert "env.configure_stores(home)" in (root / name).read_text(encoding="utf-8"), name


PARENT = """
import os, subprocess, sys
from flows import env
with env.workers_report_here() as url:
    child = subprocess.run(
        [sys.executable, "-c", "from prefect.client.orchestration import get_client\\n"
         "with get_client(sync_client=True) as c: print(str(c.api_url).rstrip('/'))"],
        capture_output=True, text=True, check=True,
    )
    print(url, child.stdout.strip())
print(os.environ.get("PREFECT_API_URL"))
"""


def test_dask_workers_of_an_ephemeral_run_report_to_its_server(tmp_path: Path) -> None:
    """RAIE_TASK_RUNNER=dask from the CLI without a server: a process started inside
    `workers_report_here` (as a Dask worker is) talks to the run's own ephemeral server
    instead of starting one of its own; afterwards PREFECT_API_URL is unset again."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    environ["PREFECT_HOME"] = str(tmp_path / "prefect")
    done = subprocess.run(
        [sys.executable, "-c", PARENT], capture_output=True, text=True, env=environ, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (url, seen), after = (line.split() for line in done.stdout.split("\n")[-3:-1])
    assert url.startswith("http://127.0.0.1:") and seen == url
    assert after == ["None"]


def test_dask_reporting_only_with_the_dask_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.commands.pipeline import _dask_reporting

    monkeypatch.setenv("RAIE_TASK_RUNNER", "thread")
    assert isinstance(_dask_reporting(), contextlib.nullcontext)
    monkeypatch.setenv("RAIE_TASK_RUNNER", "Dask")
    assert not isinstance(_dask_reporting(), contextlib.nullcontext)
