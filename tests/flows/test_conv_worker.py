"""Deployed runs behave like CLI runs: a Prefect process worker runs the `nightly` and
`backfill` deployments of prefect.yaml, and their results land in the RAIE home's state
store and MLflow registry, not in an MLflow store of the worker's working directory.

A small home is set up in-process (the first 150 users of ML-100K, the flow tests' slice)
with MLflow resolved from the home alone. Then a real `prefect server start` on loopback, the
deployments from prefect.yaml, a flow run of each created through the REST API, and
`prefect worker start --run-once` in an environment without MLFLOW_TRACKING_URI or
RAIE_HOME (tests/conftest.py sets MLFLOW_TRACKING_URI for the test process, which would hide
a flow that does not configure its own stores).
"""

import os
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.flows.prefect_server import ROOT, api_call, prefect_cli, prefect_server
from tests.flows.small_config import small_config

UNTIL = date(1997, 12, 15)
NIGHTLY = date(1997, 12, 15)
BACKFILL = date(1997, 12, 22)
RUN_TIMEOUT_S = 600.0
"""How long one deployment run may take on the loaded 2-core machine (measured: about 1 min)."""
UNSET = ("MLFLOW_TRACKING_URI", "RAIE_HOME", "PREFECT_API_URL", "PREFECT_HOME")


def _run_deployment(api: str, env: dict, deployment: dict, parameters: dict) -> dict:
    """Create a flow run of ``deployment``, let one worker pass run it, return its final
    state (the run as the API reads it)."""
    run = api_call(
        api, f"/deployments/{deployment['id']}/create_flow_run", {"parameters": parameters}
    )
    prefect_cli(env, "worker", "start", "--pool", "raie-process", "--run-once", timeout_s=900)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        read = api_call(api, f"/flow_runs/{run['id']}")
        if read["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return read
        time.sleep(2)
    pytest.fail(f"flow run {run['id']} did not finish within {RUN_TIMEOUT_S} s")


@pytest.mark.slow
def test_worker_runs_log_into_the_home(
    prefect_backend,  # noqa: ANN001
    ml100k_slice,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    from flows.commands.replay import replay_home
    from flows.setup import setup
    from tasks.store import Store

    home = tmp_path / "home"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    setup(
        config=small_config(ml100k_slice(150), base_epochs=2, adapter_epochs=1),
        until=UNTIL,
        home=str(home),
    )
    assert (home / "mlflow.db").is_file()  # the setup flow resolved MLflow from its home
    replay_home(home, "table", BACKFILL + timedelta(days=7))  # both weeks land
    stray = ROOT / "mlflow.db"
    stray_before = stray.stat().st_mtime if stray.exists() else None

    base_env = {k: v for k, v in os.environ.items() if k not in UNSET}
    base_env |= {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    prefect_home = tmp_path / "prefect-server"
    prefect_home.mkdir()
    with prefect_server(prefect_home, base_env) as (api, env):
        prefect_cli(env, "work-pool", "create", "raie-process", "--type", "process")
        prefect_cli(env, "--no-prompt", "deploy", "--name", "nightly", "--name", "backfill")
        deployments = {d["name"]: d for d in api_call(api, "/deployments/filter", {})}
        common = {"dataset": "table", "home": str(home)}
        nightly = _run_deployment(
            api, env, deployments["nightly"], {**common, "period": NIGHTLY.isoformat()}
        )
        backfill = _run_deployment(
            api,
            env,
            deployments["backfill"],
            {**common, "start": BACKFILL.isoformat(), "end": BACKFILL.isoformat()},
        )
    for run in (nightly, backfill):
        assert run["state"]["type"] == "COMPLETED", (run["name"], run["state"])

    store = Store(home, "table")
    assert [store.read_manifest(v).period for v in store.versions()[1:]] == [
        NIGHTLY.isoformat(),
        BACKFILL.isoformat(),
    ]
    assert store.current_version() == 3

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    versions = client.search_model_versions("name = 'raie-table-bank'")
    assert sorted(v.tags["bank_version"] for v in versions) == ["1", "2", "3"]
    champion = client.get_model_version_by_alias("raie-table-bank", "champion")
    assert champion.tags["bank_version"] == "3"
    experiment = client.get_experiment_by_name("raie-table")
    runs = client.search_runs([experiment.experiment_id], "tags.`raie.kind` = 'update'")
    assert {r.data.tags["prefect.flow_run_id"] for r in runs} >= {nightly["id"]}
    assert {r.data.tags["raie.period"] for r in runs} == {NIGHTLY.isoformat(), BACKFILL.isoformat()}
    after = stray.stat().st_mtime if stray.exists() else None
    assert after == stray_before, f"a deployed run wrote to {stray}"
