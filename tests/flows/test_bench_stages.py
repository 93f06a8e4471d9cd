"""The per-stage table of `raie bench pipeline` on real flows: a setup and one nightly update
of a 100-user slice of ML-100K (1-epoch budgets) under `flows.benches.stages.recording`. Every
stage each flow logs (`flows.runlog.Stages`) is a row, in the flow's order, with positive wall
seconds and memory; `print_stages` prints each. No timing values are asserted."""

from dataclasses import asdict
from pathlib import Path

SETUP_STAGES = (
    "ingest",
    "windows",
    "backbone",
    "embed",
    "regions",
    "retention",
    "publish",
    "track",
)
UPDATE_STAGES = (
    "ingest",
    "windows",
    "prequential",
    "embed",
    "edit",
    "train-shared",
    "train-regions",
    "gate",
    "publish",
    "track",
)


def test_every_stage_of_a_setup_and_an_update_is_a_row(
    prefect_backend, ml100k_slice, tmp_path: Path, monkeypatch, capsys
) -> None:  # noqa: ANN001
    from flows.benches.pipeline_report import print_stages
    from flows.benches.stages import recording
    from flows.commands.replay import replay_home
    from flows.nightly_update import nightly_update
    from flows.setup import setup
    from raie_core.data import Period
    from tests.flows.small_config import small_config

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    config = small_config(ml100k_slice(100), base_epochs=1, adapter_epochs=1)
    home = str(tmp_path / "home")
    with recording() as recorder:
        report = setup(config=config, home=home)
        rows = {"setup": recorder.take()}
        period = Period.parse(report["until"], config.every)
        replay_home(home, "table", period.end)
        update = nightly_update(period=period.start, dataset="table", home=home)
        rows["update"] = recorder.take()
    assert update["windows"] > 0 and update["retrained"] >= 1  # a real edit and training
    assert tuple(row.stage for row in rows["setup"]) == SETUP_STAGES
    assert tuple(row.stage for row in rows["update"]) == UPDATE_STAGES
    for row in rows["setup"] + rows["update"]:
        assert row.wall_s > 0 and row.peak_rss_mib > 0 and row.rise_mib >= 0, row
    capsys.readouterr()
    for flow, flow_rows in rows.items():
        print_stages(flow, [asdict(row) for row in flow_rows])
    lines = capsys.readouterr().out.splitlines()
    for stage in SETUP_STAGES + UPDATE_STAGES:
        assert any(line.split()[:1] == [stage] for line in lines), stage
