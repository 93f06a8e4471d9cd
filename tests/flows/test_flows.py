"""Flow test: setup + two weekly updates on a small real slice of ML-100K, under Prefect.

Asserts the run tree (Prefect flow and task runs), the published versions, the decisions and
typed manifest records, idempotence of a re-run and a backfill, a period off the week
boundary, an empty period and the MLflow lineage of the trained adapters; and the per-stage
table of `raie bench pipeline` (`flows.benches.stages`) of the setup and the first update:
every stage each flow logs is a row, in order, with positive wall seconds and memory.
"""

from datetime import date, timedelta

import polars as pl
import pytest

from flows.params import PipelineConfig
from raie_core.adapters import AdapterConfig
from raie_core.backbones.seqrec import SeqRecConfig
from raie_core.errors import RaieConfigError
from raie_core.gate import GateConfig
from raie_core.regions import RegionConfig
from raie_core.sharing import SHARED_KEY
from raie_core.training import TrainConfig

UNTIL = date(1997, 12, 15)
PERIODS = (date(1997, 12, 15), date(1997, 12, 22))
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
UPDATE_STAGES = ("check", "ingest", "windows", "embed", "prequential", "edit")
UPDATE_STAGES += ("train-shared", "train-regions", "gate", "publish", "track", "gc")


@pytest.fixture(scope="module")
def slice_path(ml100k_slice) -> str:  # noqa: ANN001
    """The first 150 users of the real ML-100K as a table file."""
    return ml100k_slice(150)


def _config(path: str) -> PipelineConfig:
    return PipelineConfig(
        dataset="table",
        path=path,
        seed=0,
        seqrec=SeqRecConfig(train=TrainConfig(max_epochs=4, patience=2)),
        regions=RegionConfig(n_regions=3, min_train_samples=4, max_fit_windows=3000),
        adapters=AdapterConfig(train=TrainConfig(max_epochs=2, patience=1)),
        # the flow's mechanics, not the gate's judgement (tests/core/test_gate.py): on this
        # 150-user slice with a 2-epoch budget a week can be resolvably worse, so every
        # candidate passes here and the chain is v1, v2, v3
        gate=GateConfig(tolerance=0.99),
    )


def _check_stage_table(stages: dict, capsys) -> None:  # noqa: ANN001
    """The bench's per-stage rows: each flow's stages in order, positive wall and memory,
    each printed by `print_stages` (no timing values asserted)."""
    from dataclasses import asdict

    from flows.benches.pipeline_report import print_stages

    assert tuple(row.stage for row in stages["setup"]) == SETUP_STAGES
    assert tuple(row.stage for row in stages["update"]) == UPDATE_STAGES
    for row in stages["setup"] + stages["update"]:
        assert row.wall_s > 0 and row.peak_rss_mib > 0, row
    capsys.readouterr()
    for flow, rows in stages.items():
        print_stages(flow, [asdict(row) for row in rows])
    printed = [line.split()[:1] for line in capsys.readouterr().out.splitlines()]
    assert all([stage] in printed for stage in SETUP_STAGES + UPDATE_STAGES)


def test_setup_then_two_periods(
    prefect_backend, slice_path: str, tmp_path, monkeypatch, capsys
) -> None:  # noqa: ANN001
    from prefect import get_client

    from flows.backfill import backfill
    from flows.benches.stages import recording
    from flows.commands.replay import replay_home
    from flows.nightly_update import nightly_update
    from flows.setup import setup
    from tasks.integrity import verify_bank
    from tasks.lineage import tracker
    from tasks.records import PeriodRecord, SetupRecord
    from tasks.serving import recommend
    from tasks.store import Store

    # an MLflow store of its own: other tests register models of the same dataset name
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    home = str(tmp_path / "home")
    config = _config(slice_path)
    with recording() as recorder:
        report = setup(config=config, until=UNTIL, home=home)
        stages = {"setup": recorder.take()}
        assert report["version"] == 1 and report["setup_windows"] > 100
        assert report["after_cut"] > 0  # setup ingests the history only; the weeks land later
        landed_until = PERIODS[1] + timedelta(days=7)
        replay_home(home, "table", landed_until)
        reports = [nightly_update(period=PERIODS[0], dataset="table", home=home)]
        stages["update"] = recorder.take()
    reports.append(nightly_update(period=PERIODS[1], dataset="table", home=home))
    _check_stage_table(stages, capsys)
    store = Store(tmp_path / "home", "table")
    history = store.history()
    assert [m.version for m in history] == [1, 2, 3]
    assert [m.period for m in history[1:]] == [p.isoformat() for p in PERIODS]
    for rep, manifest in zip(reports, history[1:], strict=True):
        assert rep["windows"] > 0
        assert rep["ingested"]["files"] == 1 and rep["ingested"]["rows"] > 0  # its landed week
        # the recency slice (held-out users of the period) is never edited or trained on
        assert sum(manifest.decisions.values()) + rep["recency"] == rep["windows"]
        assert rep["recency"] > 0
        assert set(manifest.decisions) == {"UPDATE", "EXPAND", "ADD"}
        assert "prequential.NDCG@10" in manifest.metrics
        gate = manifest.quality_gate
        assert gate["passed"] is True and gate["reason"].startswith("no resolved drop")
        for check in ("retention", "anchor", "recency"):
            assert gate[check]["low"] <= gate[check]["diff"] <= gate[check]["high"]
        assert gate["recency"]["windows"] == rep["recency"]
        assert rep["champion"] == manifest.version
        verify_bank(store, manifest.version)
    assert SetupRecord.read(store, history[0]).until == UNTIL
    records = [PeriodRecord.read(store, m) for m in history[1:]]
    assert [r.windows for r in records] == [rep["windows"] for rep in reports]
    assert records[0].champion_evaluated == 1 and records[1].champion_evaluated in (1, 2)
    trained = {rid for r in records for rid in r.affected}
    assert trained, "no region adapter was trained in two periods"
    assert SHARED_KEY in history[-1].adapters  # the shared adapter, the fallback of routing
    assert set(history[-1].adapters) <= set(range(100)) | {SHARED_KEY}
    served_ids = {rid for m in history[1:] for rid in m.adapters}  # shared + promoted regions

    again = nightly_update(period=PERIODS[0], dataset="table", home=home)
    assert again == {"period": PERIODS[0].isoformat(), "skipped": True}
    replayed = backfill(start=PERIODS[0], end=PERIODS[1], dataset="table", home=home)
    assert replayed == [{"period": p.isoformat(), "skipped": True} for p in PERIODS]
    with pytest.raises(RaieConfigError, match=r"period=1997-12-17 should start a 1w period \("):
        nightly_update(period=date(1997, 12, 17), dataset="table", home=home)
    assert store.current_version() == 3

    lineage = tracker(store).lineage("table")
    assert {row["region_id"] for row in lineage} == served_ids  # only adapters that serve
    assert all(row["tags"]["period"] in {p.isoformat() for p in PERIODS} for row in lineage)
    assert tracker(store).champion_version("table") is not None
    _runs_name_their_commit(tracker(store).client)

    # a user's history is what was ingested: setup's history and the two weeks that landed
    served = recommend(store, "13", 10, config.protocol, config.regions, config.adapters)
    ingested = pl.col("timestamp") < (landed_until - date(1970, 1, 1)).days * 86_400
    user = pl.read_parquet(slice_path).filter(ingested & (pl.col("user_id") == 13))
    user = user.filter(pl.col("rating") >= 4)
    seen = set(user.sort("timestamp", "item_id")["item_id"].to_list()[-20:])
    assert len(served["items"]) == 10 and served["bank_version"] == 3
    assert not {item["item_id"] for item in served["items"]} & seen
    assert served["region"] is None or served["region"] in history[-1].adapters

    import asyncio

    async def flow_runs() -> list:
        async with get_client() as client:
            return await client.read_flow_runs()

    names = [run.name for run in asyncio.run(flow_runs())]
    assert sum(name.startswith("update-table-") for name in names) >= 3

    # a period without windows is a visible no-op: nothing published, the period stays open
    after_data = nightly_update(period=date(1998, 6, 1), dataset="table", home=home)
    assert after_data["windows"] == 0 and after_data["published"] is False
    assert store.versions() == [1, 2, 3]


def _runs_name_their_commit(client) -> None:  # noqa: ANN001 - an MlflowClient
    """Every run of the flows records the checkout's commit under MLflow's own tag (the UI
    links it), or the package version outside a git checkout."""
    import subprocess

    from tasks.provenance import CODE_ROOT, CODE_VERSION_TAG, GIT_COMMIT_TAG

    head = subprocess.run(["git", "-C", str(CODE_ROOT), "rev-parse", "HEAD"], capture_output=True)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs
    for run in runs:
        tags = run.data.tags
        if head.returncode == 0:
            assert tags[GIT_COMMIT_TAG] == head.stdout.decode().strip()
            assert tags[CODE_VERSION_TAG].startswith(tags[GIT_COMMIT_TAG])
        else:
            assert tags[CODE_VERSION_TAG].startswith("raie==")
