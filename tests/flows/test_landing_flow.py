"""The landing zone through the nightly flow and the CLI, on a set-up home (the first 100
users of ML-100K, setup cut 1997-12-15): weeks replayed into the landing zone are ingested by
their update (counts in the report and the flow log), a late row and a re-sent file are
reported on the next week, a bad file fails `raie update` in one sentence with nothing
ingested.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from flows.cli import main
from tests.flows.small_config import small_config
from tests.reliability.publish_homes import copy_home

# a whole setup and two updates (~80 s on a loaded 2-core machine); the default suite covers
# the same rules without training (test_landing_ingest.py) and the flow's ingest in test_flows
pytestmark = pytest.mark.slow

UNTIL = date(1997, 12, 15)
WEEKS = (date(1997, 12, 15), date(1997, 12, 22))
SECONDS = {week: int((week - date(1970, 1, 1)).total_seconds()) for week in WEEKS}


@pytest.fixture(scope="module")
def template(prefect_backend, ml100k_slice, tmp_path_factory) -> Path:  # noqa: ANN001
    from flows.setup import setup

    home = tmp_path_factory.mktemp("landing-flow") / "template"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        config = small_config(ml100k_slice(100), base_epochs=1, adapter_epochs=1)
        setup(config=config, until=UNTIL, home=str(home))
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = copy_home(template, tmp_path / "home")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.setenv("RAIE_HOME", str(home))
    return home


def _week(path: str, start: date) -> pl.DataFrame:
    stamps = pl.col("timestamp")
    first = SECONDS[start]
    return pl.read_parquet(path).filter((stamps >= first) & (stamps < first + 7 * 86400))


def _ingest_logs(flow_run_id: str) -> list[str]:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    async def read() -> list[str]:
        await APILogHandler.aflush()  # the run's records are sent in the background
        async with get_client() as client:
            flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            return [log.message for log in await client.read_logs(log_filter=flt)]

    return [m for m in asyncio.run(read()) if m.startswith("ingested ")]


def test_replayed_weeks_are_ingested_by_their_update(home: Path, ml100k_slice) -> None:  # noqa: ANN001
    from flows.commands.replay import replay_home
    from flows.nightly_update import nightly_update
    from tasks.store import Store

    path, store = ml100k_slice(100), Store(home, "table")
    replayed = replay_home(home, "table", WEEKS[1])  # the first week only: it has ended
    assert (replayed["written"], replayed["first"]) == (1, WEEKS[0].isoformat())
    state = nightly_update(period=WEEKS[0], dataset="table", home=str(home), return_state=True)
    first = state.result()
    assert first["ingested"] == {
        "files": 1, "rows": _week(path, WEEKS[0]).height, "late": 0, "duplicates": 0, "deferred": 0
    }  # fmt: skip
    assert first["windows"] > 0 and first["version"] == 2
    snapshot = store.snapshots_dir / f"period={WEEKS[0]}" / "interactions.parquet"
    assert pl.read_parquet(snapshot).equals(_week(path, WEEKS[0]))
    logs = _ingest_logs(str(state.state_details.flow_run_id))
    assert logs == [f"ingested 1 file(s), {first['ingested']['rows']} rows into {WEEKS[0]} "
                    "(0 late, 0 duplicates, 0 left for other periods)"]  # fmt: skip

    # the next week lands with a row of the published week and a re-sent copy of it
    replay_home(home, "table", WEEKS[1].replace(day=29))
    late = {"user_id": [1], "item_id": [50], "timestamp": [SECONDS[WEEKS[1]] - 60]}
    pl.DataFrame(late | {"rating": [5.0]}).write_csv(store.landing_dir / "late.csv")
    pl.read_parquet(snapshot).write_csv(store.landing_dir / "resent.csv")  # other bytes
    second = nightly_update(period=WEEKS[1], dataset="table", home=str(home))
    rows = _week(path, WEEKS[1]).height
    assert second["ingested"] == {
        "files": 3, "rows": rows + 1, "late": 1, "duplicates": first["ingested"]["rows"],
        "deferred": 0,
    }  # fmt: skip
    assert pl.read_parquet(snapshot).equals(_week(path, WEEKS[0]))  # its version is published


def test_a_bad_file_fails_the_update_in_one_sentence_with_nothing_ingested(
    home: Path,
    ml100k_slice,  # noqa: ANN001
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flows.commands.replay import replay_home
    from tasks.store import Store

    replay_home(home, "table", WEEKS[1])
    bad = Store(home, "table").landing_dir / "bad.csv"
    bad.write_text("user_id,item_id,timestamp,rating\n1,50,yesterday,4\n")
    state = home / "state" / "table"
    before = {str(p): p.stat().st_mtime_ns for p in sorted(state.rglob("*")) if p.is_file()}
    capsys.readouterr()
    code = main(["update", "--home", str(home), "--dataset", "table", "--period", str(WEEKS[0])])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"raie: error: {bad}: column 'timestamp' breaks the rule "), err
    assert "(first bad value 'yesterday')" in err
    after = {str(p): p.stat().st_mtime_ns for p in sorted(state.rglob("*")) if p.is_file()}
    assert {k: v for k, v in after.items() if "/snapshots/" in k or "/bank/" in k} == {
        k: v for k, v in before.items() if "/snapshots/" in k or "/bank/" in k
    }
    assert bad.is_file()
