"""The Dask switch: region adapters of a nightly update trained on a real loopback Dask
cluster (RAIE_TASK_RUNNER=dask, a `distributed` LocalCluster with two worker processes) are
byte-identical to the default one-worker in-process run. Setup runs once; its home is copied
(a moved home carries on, issue 19) so both updates start from the same bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RAIE = Path(sys.executable).parent / "raie"
UNTIL, PERIOD = "1997-12-15", "1997-12-15"


@pytest.fixture(scope="module")
def slice_path(ml100k_slice) -> str:  # noqa: ANN001
    """The first 100 users of the real ML-100K as a table file."""
    return ml100k_slice(100)


SESSION_STORES = ("RAIE_HOME", "PREFECT_HOME", "PREFECT_API_URL", "MLFLOW_TRACKING_URI")
"""The test session's shared stores (conftest): dropped, so each run keeps its Prefect and
MLflow state under its own --home and leaves no lineage in the session's MLflow."""


def _raie(home: Path, *args: str, dask: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in SESSION_STORES}
    env.update(OMP_NUM_THREADS="1", RAIE_TORCH_THREADS="1")
    env.pop("RAIE_TASK_RUNNER", None)
    if dask:
        env["RAIE_TASK_RUNNER"] = "dask"
    command = [str(RAIE), "--home", str(home), "--debug", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _published(home: Path) -> dict[str, bytes]:
    adapters = home / "state" / "table" / "adapters"
    return {
        str(p.relative_to(adapters)): p.read_bytes()
        for p in sorted(adapters.glob("region-*/v*/adapter_model.safetensors"))
    }


def test_dask_cluster_trains_the_same_adapters_as_in_process(
    slice_path: str, tmp_path: Path
) -> None:
    homes = {"thread": tmp_path / "thread", "dask": tmp_path / "dask"}
    keep_all = tmp_path / "keep-all.yaml"  # every retrained region adapter is published,
    keep_all.write_text("adapters:\n  sharing:\n    promote: false\n")  # so all are compared
    setup = ("setup", "--dataset", "table", "--path", slice_path, "--until", UNTIL)
    _raie(homes["thread"], *setup, "--config", str(keep_all))
    _raie(homes["thread"], "data", "replay", "--dataset", "table", "--until", "1997-12-22")
    shutil.copytree(homes["thread"], homes["dask"], symlinks=True)
    logs = {}
    for runner, home in homes.items():
        done = _raie(
            home, "update", "--dataset", "table", "--period", PERIOD, dask=runner == "dask"
        )
        logs[runner] = done.stdout + done.stderr
    assert (
        "LocalCluster" in logs["dask"] and "Register worker addr: tcp://127.0.0.1" in logs["dask"]
    )
    assert "LocalCluster" not in logs["thread"]
    trained = _published(homes["thread"])
    assert len(trained) >= 2  # a real fan-out: several regions retrained this period
    assert _published(homes["dask"]) == trained
    for home in homes.values():  # each run tracked in its own home's MLflow store
        assert (home / "mlflow.db").is_file()
