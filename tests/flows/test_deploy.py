"""prefect.yaml deploys against a real Prefect server; the deployments read back as declared.

Starts `prefect server start` on a free loopback port with a temporary PREFECT_HOME, creates
the process work pools, runs `prefect --no-prompt deploy --all` for prefect.yaml and for
deployments/dask.yaml from the repository root, reads the deployments back through the REST
API (cron schedule, timezone, work pool, entrypoint, pull step, job variables), and stops the
server's process group.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.flows.prefect_server import ROOT, api_call, prefect_cli, prefect_server

# Measured 118 s wall (about 40 s CPU) on the shared 2-core machine at load 8-12; kept in the
# default suite: deploying the nightly schedule is what users rely on.

FLOW_FILES = ("flows/nightly_update.py", "flows/backfill.py", "flows/benchmark.py")


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    missing = [f for f in FLOW_FILES if not (ROOT / f).exists()]
    if missing:
        pytest.fail(f"prefect.yaml names flow files that do not exist: {missing}")
    with prefect_server(tmp_path_factory.mktemp("prefect-home"), dict(os.environ)) as server:
        yield server


@pytest.fixture(scope="module")
def deployed(prefect_api: tuple[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    api, env = prefect_api
    for pool in ("raie-process", "raie-dask"):
        prefect_cli(env, "work-pool", "create", pool, "--type", "process")
    prefect_cli(env, "--no-prompt", "deploy", "--all")
    prefect_cli(env, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/dask.yaml")
    return {d["name"]: d for d in api_call(api, "/deployments/filter", {})}


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
