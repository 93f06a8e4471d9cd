"""The quality bench's MLflow run records the code that produced it, like the flows' runs."""

import argparse
from pathlib import Path

import pytest


def test_bench_run_records_the_code_version(
    prefect_backend,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.benches.quality.track import track_report
    from tasks.provenance import CODE_VERSION_TAG, code_version
    from tasks.tracking import Tracker

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    report = tmp_path / "report" / "report.md"
    report.parent.mkdir()
    report.write_text("# quality\n")
    args = argparse.Namespace(
        home=str(tmp_path / "home"),
        preset="paper",
        backbone="seqrec",
        seeds=1,
        dataset="ml-100k",
        methods=None,
        epochs=None,
    )
    run_id = track_report(report, [{"method": "raie", "NDCG@10": {"mean": 0.25}}], args)
    info = Tracker(artifact_root=tmp_path / "home" / "mlartifacts").run_info(run_id)
    assert info["tags"][CODE_VERSION_TAG] == code_version()[CODE_VERSION_TAG]
    assert info["metrics"] == {"raie.NDCG_at_10": 0.25}
