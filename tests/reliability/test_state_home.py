"""Issue 19, finding 7 (a movable home): a home that was moved, with its scratch `work/`
folder deleted, still updates and serves, and writes nothing at its old place; manifests
name paths relative to the home, and old manifests with absolute paths still read."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.flows.conftest import ml100k_slice, prefect_backend  # noqa: F401 - fixtures
from tests.reliability.state_home import (  # noqa: F401 - `home` is a fixture
    DATASET,
    PERIODS,
    cli,
    home,
    tracking_uri,
)

pytestmark = pytest.mark.reliability


def test_a_moved_home_without_work_updates_and_serves(home: Path, capsys, monkeypatch) -> None:  # noqa: ANN001, F811
    from tasks.records import SetupRecord
    from tasks.store import Store

    setup_manifest = json.loads((home / "state" / DATASET / "bank/v0001/manifest.json").read_text())
    assert setup_manifest["extra"]["heldout"]["path"] == "windows/setup/heldout.safetensors"

    moved = home.parent / "restored" / "raie"
    moved.parent.mkdir()
    home.rename(moved)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri(moved))
    shutil.rmtree(moved / "state" / DATASET / "work")

    store = Store(moved, DATASET)
    assert SetupRecord.read(store, store.history()[0]).heldout.path.startswith(str(moved))
    code, out, err = cli(moved, capsys, "recommend", "--dataset", DATASET, "--user", "5")
    assert code == 0 and "bank v2" in out, err
    period = PERIODS[1].isoformat()
    code, out, err = cli(moved, capsys, "update", "--dataset", DATASET, "--period", period)
    assert code == 0 and "update done" in out, err
    assert store.versions() == [1, 2, 3] and store.current_version() == 3
    assert not home.exists()  # nothing was written at the old place
    assert cli(moved, capsys, "verify")[0] == 0

    # the new run's artifacts are under the moved home: its experiment was made anew there
    with sqlite3.connect(moved / "mlflow.db") as db:
        rows = db.execute("SELECT name, artifact_location FROM experiments").fetchall()
    locations = dict(rows)
    assert locations[f"raie-{DATASET}"] == str(moved / "mlartifacts" / f"raie-{DATASET}")
    assert any(name.startswith(f"raie-{DATASET}@") for name in locations)  # the old runs
    code, out, err = cli(moved, capsys, "lineage", "--dataset", DATASET, "--json")
    bank = json.loads(out)["bank"]
    assert code == 0 and [row["tags"]["bank_version"] for row in bank] == ["1", "2", "3"]


def test_an_absolute_path_of_an_old_manifest_is_read_under_the_moved_home(tmp_path: Path) -> None:
    from tasks.store import Store

    store = Store(tmp_path / "new-home", DATASET)
    old = f"/srv/old-home/state/{DATASET}/work/setup/heldout.safetensors"
    assert store.resolve(old) == store.root / "work" / "setup" / "heldout.safetensors"
    assert store.resolve("windows/setup/heldout.safetensors") == (
        store.root / "windows" / "setup" / "heldout.safetensors"
    )
    elsewhere = "/data/other/heldout.safetensors"  # not a state path: left as it is
    assert store.resolve(elsewhere) == Path(elsewhere)
    assert store.relative(store.root / "windows" / "x") == "windows/x"
