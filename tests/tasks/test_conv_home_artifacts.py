"""A copied home does not write or read the old home's MLflow artifacts: MLflow keeps
absolute artifact locations, so the copy's store is refused in one sentence."""

import shutil
from pathlib import Path

import pytest

from raie_core.errors import RaieStateError
from tasks.home_artifacts import check_home_artifacts
from tasks.tracking import Tracker


def _tracker(home: Path) -> Tracker:
    return Tracker(artifact_root=home / "mlartifacts", tracking_uri=f"sqlite:///{home}/mlflow.db")


@pytest.mark.reliability
def test_a_copied_home_refuses_the_old_homes_artifacts(tmp_path: Path) -> None:
    original = tmp_path / "original"
    original.mkdir()
    run_id = _tracker(original).start_run("raie-table", "setup-x")
    assert _tracker(original).run_info(run_id)["artifact_uri"].startswith(str(original))

    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    with pytest.raises(RaieStateError, match=r"keeps its artifacts in .*original/mlartifacts"):
        _tracker(copy).start_run("raie-table", "update-y")
    assert _tracker(original).start_run("raie-table", "update-y")  # the original still works


def test_only_a_homes_own_sqlite_store_is_checked(tmp_path: Path) -> None:
    root = tmp_path / "home" / "mlartifacts"
    elsewhere = str(tmp_path / "other" / "mlartifacts" / "raie-table")
    own = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    with pytest.raises(RaieStateError, match="copied or moved"):
        check_home_artifacts("raie-table", elsewhere, own, root)
    check_home_artifacts("raie-table", f"file://{root}/raie-table", own, root)
    check_home_artifacts("raie-table", elsewhere, f"sqlite:///{tmp_path / 'shared.db'}", root)
    check_home_artifacts("raie-table", elsewhere, "http://127.0.0.1:5000", root)
