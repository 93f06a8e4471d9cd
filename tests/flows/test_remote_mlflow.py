"""A team's MLflow tracking server (issue 20): `raie setup` and one nightly period run
unchanged against `MLFLOW_TRACKING_URI=http://…` (a real `mlflow server` on loopback with a
SQL backend store and its own artifact store), and the runs, the registered versions and the
`@champion` alias are found through the server's REST API; the artifacts live in the
server's artifact store, not in the home."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.flows.prefect_server import free_port, wait_healthy

RAIE = Path(sys.executable).parent / "raie"
UNTIL, PERIOD = "1997-12-15", "1997-12-15"
LANDED_UNTIL = "1997-12-22"
"""The period's week lands before the update (setup ingests only the history before UNTIL)."""
SERVER_START_TIMEOUT_S = 120.0
SESSION_STORES = ("RAIE_HOME", "PREFECT_HOME", "PREFECT_API_URL", "MLFLOW_TRACKING_URI")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real `mlflow server` (sqlite backend, proxied artifact store) on a free port:
    yields (its URL, its artifact folder)."""
    url = f"http://127.0.0.1:{free_port()}"
    artifacts = tmp_path / "server-artifacts"
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"),
        *("--artifacts-destination", str(artifacts)),
        *("--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1], "--workers", "1"),
    ]
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_healthy(url, process, SERVER_START_TIMEOUT_S)
        yield url, artifacts
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _rest(url: str, endpoint: str, body: dict | None = None, **query: str) -> dict:
    address = f"{url}/api/2.0/mlflow/{endpoint}"
    if query:
        address += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        address, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _raie(home: Path, uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI from an empty folder next to the home (nothing may land in it)."""
    cwd = home.parent / "cwd"
    cwd.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in SESSION_STORES}
    env.update(OMP_NUM_THREADS="1", RAIE_TORCH_THREADS="1", MLFLOW_TRACKING_URI=uri)
    command = [str(RAIE), "--home", str(home), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_setup_and_a_period_against_a_tracking_server(
    server: tuple[str, Path], ml100k_slice, tmp_path: Path
) -> None:
    url, artifacts = server
    home = tmp_path / "home"
    slice_path = ml100k_slice(100)
    _raie(home, url, "setup", "--dataset", "table", "--path", slice_path, "--until", UNTIL)
    _raie(home, url, "data", "replay", "--dataset", "table", "--until", LANDED_UNTIL)
    _raie(home, url, "update", "--dataset", "table", "--period", PERIOD)

    champion = _rest(url, "registered-models/alias", name="raie-table-bank", alias="champion")
    assert champion["model_version"]["version"] == "2"  # setup's v1, then the period's v2
    experiment = _rest(url, "experiments/get-by-name", experiment_name="raie-table")
    experiment_id = experiment["experiment"]["experiment_id"]
    assert experiment["experiment"]["artifact_location"].startswith("mlflow-artifacts:")
    runs = _rest(url, "runs/search", {"experiment_ids": [experiment_id], "max_results": 100})
    statuses = {run["info"]["run_name"]: run["info"]["status"] for run in runs["runs"]}
    assert statuses and set(statuses.values()) == {"FINISHED"}, statuses
    regions = _rest(url, "registered-models/search", filter="name LIKE 'raie-table-region-%'")
    assert len(regions["registered_models"]) >= 2

    stored = [p for p in artifacts.rglob("*") if p.is_file()]
    assert any(p.name == "MLmodel" for p in stored)  # the bank's pyfunc model, uploaded
    assert any(p.name == "adapter_model.safetensors" for p in stored)
    assert not (home / "mlflow.db").exists()
    assert not [p for p in (home / "mlartifacts").rglob("*") if p.is_file()]
    assert not list((tmp_path / "cwd").iterdir())  # no artifact written relative to the cwd

    lineage = _raie(home, url, "lineage", "--dataset", "table", "--json")
    assert json.loads(lineage.stdout)  # the CLI reads the lineage back from the server
