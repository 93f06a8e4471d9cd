"""prefect.yaml deploys against a real Prefect server; the deployments read back as declared.

Starts `prefect server start` on a free loopback port with a temporary PREFECT_HOME, creates
the process work pools, runs `prefect --no-prompt deploy --all` for prefect.yaml and for
deployments/dask.yaml from the repository root, reads the deployments back through the REST
API (cron schedule, timezone, work pool, entrypoint, pull step, job variables), and stops the
server's process group.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Measured 118 s wall (about 40 s CPU) on the shared 2-core machine at load 8-12; kept in the
# default suite: deploying the nightly schedule is what users rely on.

ROOT = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]
FLOW_FILES = ("flows/nightly_update.py", "flows/backfill.py", "flows/benchmark.py")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(api: str, server: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, "prefect server exited early"
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"prefect server did not answer on {api} within {timeout_s} s")


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    missing = [f for f in FLOW_FILES if not (ROOT / f).exists()]
    if missing:
        pytest.fail(f"prefect.yaml names flow files that do not exist: {missing}")
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_COLORS": "false",
        "PREFECT_CLI_WRAP_LINES": "false",
    }
    with open(home / "server.log", "wb") as log:
        server = subprocess.Popen(
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(api, server)
        yield api, env
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _prefect(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [*PREFECT, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"prefect {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def _deployments(api: str) -> dict[str, dict[str, Any]]:
    request = urllib.request.Request(
        f"{api}/deployments/filter", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return {d["name"]: d for d in json.loads(response.read())}


@pytest.fixture(scope="module")
def deployed(prefect_api: tuple[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    api, env = prefect_api
    for pool in ("raie-process", "raie-dask"):
        _prefect(env, "work-pool", "create", pool, "--type", "process")
    _prefect(env, "--no-prompt", "deploy", "--all")
    _prefect(env, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/dask.yaml")
    return _deployments(api)


def test_all_deployments_are_created(deployed: dict[str, dict[str, Any]]) -> None:
    assert sorted(deployed) == ["backfill", "backfill-dask", "benchmark", "nightly", "nightly-dask"]


def test_nightly_runs_at_two_on_the_process_pool(deployed: dict[str, dict[str, Any]]) -> None:
    nightly = deployed["nightly"]
    assert nightly["entrypoint"] == "flows/nightly_update.py:nightly_update"
    assert nightly["work_pool_name"] == "raie-process"
    assert [
        (s["schedule"]["cron"], s["schedule"]["timezone"], s["active"])
        for s in nightly["schedules"]
    ] == [("0 2 * * *", "UTC", True)]
    assert nightly["global_concurrency_limit"]["limit"] == 1
    assert nightly["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
    ]


def test_backfill_and_benchmark_are_on_demand(deployed: dict[str, dict[str, Any]]) -> None:
    for name, entrypoint in (
        ("backfill", "flows/backfill.py:backfill"),
        ("benchmark", "flows/benchmark.py:benchmark"),
    ):
        assert deployed[name]["entrypoint"] == entrypoint
        assert deployed[name]["schedules"] == []
        assert deployed[name]["work_pool_name"] == "raie-process"


def test_dask_variant_sets_the_task_runner_env(deployed: dict[str, dict[str, Any]]) -> None:
    nightly = deployed["nightly-dask"]
    assert nightly["work_pool_name"] == "raie-dask"
    assert nightly["job_variables"]["env"] == {"RAIE_TASK_RUNNER": "dask", "RAIE_DASK_ADDRESS": ""}
    assert nightly["schedules"][0]["schedule"]["cron"] == "0 2 * * *"
    assert deployed["backfill-dask"]["entrypoint"] == "flows/backfill.py:backfill"
