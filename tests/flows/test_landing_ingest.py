"""The landing zone without training (tasks/landing.py, tasks/replay.py): setup's history
snapshots of the first 100 users of ML-100K, weeks replayed into the landing zone, ingested
period by period; the same file twice, a late row, a bad file and a SIGKILL mid-ingest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from raie_core.data import Period
from raie_core.data.errors import InvalidValueError

ROOT = Path(__file__).resolve().parents[2]
UNTIL = date(1997, 12, 15)
WEEKS = (Period(date(1997, 12, 15), "1w"), Period(date(1997, 12, 22), "1w"))


@pytest.fixture
def store(ml100k_slice, tmp_path: Path):  # noqa: ANN001, ANN201 - a Store
    """A dataset whose setup ingested the history before UNTIL (no training: the snapshots
    and catalog are all an ingest needs)."""
    from tasks.store import Store
    from tasks.windows import ingest_snapshots

    store = Store(tmp_path / "home", "table")
    summary = ingest_snapshots.fn(store, "table", "1w", ml100k_slice(100), "strict", until=UNTIL)
    assert summary["until"] == UNTIL.isoformat() and summary["after_cut"] > 0
    return store


def _week(path: str, period: Period) -> pl.DataFrame:
    frame = pl.read_parquet(path)
    stamps = pl.col("timestamp")
    return frame.filter((stamps >= period.start_seconds) & (stamps < period.end_seconds))


def _snapshot(store, period: Period) -> pl.DataFrame:  # noqa: ANN001
    return pl.read_parquet(store.snapshots_dir / period.key / "interactions.parquet")


def test_setup_ingests_only_the_history_before_its_cut(store) -> None:  # noqa: ANN001
    from tasks.ingest import list_snapshots

    periods = [period for period, _ in list_snapshots(store.snapshots_dir, "1w")]
    assert periods and max(p.start for p in periods) < UNTIL


def test_replay_writes_one_file_per_period_once(store, ml100k_slice) -> None:  # noqa: ANN001
    from tasks.replay import replay

    path = ml100k_slice(100)
    first = replay("table", store.landing_dir, UNTIL, WEEKS[1].end, "1w", path=path)
    assert (first["written"], first["unchanged"], first["first"]) == (2, 0, "1997-12-15")
    names = sorted(p.name for p in store.landing_dir.iterdir())
    assert names == ["1997-12-15.parquet", "1997-12-22.parquet"]
    assert first["rows"] == sum(_week(path, w).height for w in WEEKS)
    stamps = {p: p.stat().st_mtime_ns for p in store.landing_dir.iterdir()}
    again = replay("table", store.landing_dir, UNTIL, WEEKS[1].end, "1w", path=path)
    assert (again["written"], again["unchanged"], again["rows"]) == (0, 2, 0)
    assert {p: p.stat().st_mtime_ns for p in store.landing_dir.iterdir()} == stamps


def test_a_period_ingests_its_rows_once(store, ml100k_slice) -> None:  # noqa: ANN001
    from tasks.landing import ingest_period, ledger, pending
    from tasks.replay import replay

    path = ml100k_slice(100)
    replay("table", store.landing_dir, UNTIL, WEEKS[1].end, "1w", path=path)
    report = ingest_period(store, store.landing_dir, WEEKS[0], UNTIL)
    expected = _week(path, WEEKS[0])
    assert report == {
        "files": 1,
        "rows": expected.height,
        "late": 0,
        "duplicates": 0,
        "deferred": _week(path, WEEKS[1]).height,  # the next week's file waits for its run
    }
    assert _snapshot(store, WEEKS[0]).equals(expected)
    assert [r["entry"] for r in ledger(store)] == ["1997-12-15.parquet"]
    assert [e.path.name for e in pending(store, store.landing_dir)] == ["1997-12-22.parquet"]
    again = ingest_period(store, store.landing_dir, WEEKS[0], UNTIL)
    assert again["rows"] == 0 and again["files"] == 0
    assert _snapshot(store, WEEKS[0]).equals(expected)


def test_the_same_rows_under_another_name_add_nothing(store, ml100k_slice) -> None:  # noqa: ANN001
    from tasks.landing import ingest_period, pending
    from tasks.replay import replay

    replay("table", store.landing_dir, UNTIL, WEEKS[0].end, "1w", path=ml100k_slice(100))
    ingest_period(store, store.landing_dir, WEEKS[0], UNTIL)
    before = _snapshot(store, WEEKS[0])
    copy = store.landing_dir / "resent.csv"
    before.write_csv(copy)
    report = ingest_period(store, store.landing_dir, WEEKS[0], UNTIL)
    assert (report["rows"], report["duplicates"], report["files"]) == (0, before.height, 1)
    assert _snapshot(store, WEEKS[0]).equals(before)
    assert pending(store, store.landing_dir) == []  # recorded: not read again


def test_a_late_row_is_counted_and_lands_in_the_next_period(store, ml100k_slice) -> None:  # noqa: ANN001
    from tasks.landing import ingest_period

    path = ml100k_slice(100)
    late = {"user_id": [1], "item_id": [50], "timestamp": [WEEKS[0].start_seconds - 3600]}
    pl.DataFrame(late | {"rating": [5.0]}).write_csv(_landing(store) / "late.csv")
    _week(path, WEEKS[0]).write_parquet(_landing(store) / "week.parquet")
    report = ingest_period(store, store.landing_dir, WEEKS[0], UNTIL)
    assert (report["late"], report["rows"]) == (1, _week(path, WEEKS[0]).height + 1)
    snapshot = _snapshot(store, WEEKS[0])  # the row's own week is before the setup cut
    assert snapshot.filter(pl.col("timestamp") < WEEKS[0].start_seconds).height == 1
    own_week = _snapshot(store, WEEKS[0].previous)  # setup's: closed, never changed
    assert own_week.filter(pl.col("timestamp") == late["timestamp"][0]).height == 0


def _landing(store) -> Path:  # noqa: ANN001
    store.landing_dir.mkdir(parents=True, exist_ok=True)
    return store.landing_dir


@pytest.mark.parametrize(
    ("row", "named"),
    [
        ("1,50,not-a-time,4", "column 'timestamp'"),
        ("1,99999,881250949,4", "column 'item_id' value 99999 is not in the catalog"),
    ],
)
def test_a_bad_file_is_refused_and_nothing_is_ingested(store, ml100k_slice, row, named) -> None:  # noqa: ANN001
    from tasks.landing import ingest_period, ledger

    _week(ml100k_slice(100), WEEKS[0]).write_parquet(_landing(store) / "good.parquet")
    bad = _landing(store) / "bad.csv"
    bad.write_text(f"user_id,item_id,timestamp,rating\n{row}\n")
    with pytest.raises(InvalidValueError) as refused:
        ingest_period(store, store.landing_dir, WEEKS[0], UNTIL)
    assert str(refused.value).startswith(f"{bad}: {named}")
    assert not (store.snapshots_dir / WEEKS[0].key).exists() and ledger(store) == []
    assert bad.is_file()  # left in place: fix or remove it, then re-run


INGEST = """
import sys
from datetime import date
from flows import env
env.configure(sys.argv[1])
from raie_core.data import Period
from tasks.landing import ingest_period
from tasks.store import Store
store = Store(sys.argv[1], "table")
ingest_period(store, store.landing_dir, Period(date(1997, 12, 15), "1w"), date(1997, 12, 15))
"""


def test_a_kill_mid_ingest_leaves_a_state_the_rerun_ingests_once(store, ml100k_slice) -> None:  # noqa: ANN001
    from tasks.landing import ingest_period, ledger
    from tasks.replay import replay

    path = ml100k_slice(100)
    replay("table", store.landing_dir, UNTIL, WEEKS[0].end, "1w", path=path)
    env = {k: v for k, v in os.environ.items() if k not in ("RAIE_HOME", "MLFLOW_TRACKING_URI")}
    env |= {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "RAIE_FAULT": "ingest-staged"}
    killed = subprocess.run(
        [sys.executable, "-c", INGEST, str(store.home)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    folder = store.snapshots_dir / WEEKS[0].key
    assert [p.name for p in folder.iterdir()] == [f".interactions.parquet.{_pid(folder)}.tmp"]
    assert ledger(store) == []  # nothing ingested: the staged file was never renamed
    report = ingest_period(store, store.landing_dir, WEEKS[0], UNTIL)
    assert report["rows"] == _week(path, WEEKS[0]).height
    assert _snapshot(store, WEEKS[0]).equals(_week(path, WEEKS[0]))
    assert [p.name for p in folder.iterdir()] == ["interactions.parquet"]
    assert [r["entry"] for r in ledger(store)] == ["1997-12-15.parquet"]
    assert ingest_period(store, store.landing_dir, WEEKS[0], UNTIL)["rows"] == 0


def _pid(folder: Path) -> str:
    (name,) = [p.name for p in folder.iterdir()]
    return name.split(".")[3]


def test_raie_data_replay_twice_writes_nothing_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from flows.cli import main

    home, into = tmp_path / "home", tmp_path / "landing"
    monkeypatch.setenv("RAIE_HOME", str(home))  # the CLI sets it; restored after the test
    argv = ["data", "replay", "--home", str(home), "--json", "--until", "1998-01-05"]
    assert main([*argv, "--into", str(into)]) == 1  # not set up: no setup cut to start from
    err = capsys.readouterr().err
    assert err.startswith("raie: error: --since is needed: dataset ml-100k is not set up in ")
    assert not into.exists()
    argv += ["--into", str(into), "--since", "1997-12-15"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["written"], first["first"], first["last"]) == (3, "1997-12-15", "1997-12-29")
    assert sorted(p.name for p in into.iterdir()) == [
        "1997-12-15.parquet", "1997-12-22.parquet", "1997-12-29.parquet"
    ]  # fmt: skip
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["written"], again["unchanged"], again["rows"]) == (0, 3, 0)


def test_weeks_landed_and_ingested_equal_the_snapshots_setup_used_to_cut(
    store,  # noqa: ANN001
    ml100k_slice,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """The demo's numbers cannot move: week by week, replay + ingest gives every period the
    same rows, in the same order, as cutting the whole source into snapshots did."""
    from tasks.ingest import list_snapshots, read_snapshot, write_snapshots
    from tasks.landing import ingest_period
    from tasks.replay import data_periods, replay_frame

    path = ml100k_slice(100)
    frame = pl.read_parquet(path)
    for week in data_periods(frame, UNTIL, "1w"):
        replay_frame(frame, store.landing_dir, week.start, week.end, "1w")
        assert ingest_period(store, store.landing_dir, week, UNTIL)["deferred"] == 0
    write_snapshots("table", tmp_path / "whole", "1w", path=path)
    whole = {p: read_snapshot(f) for p, f in list_snapshots(tmp_path / "whole", "1w")}
    landed = {p: read_snapshot(f) for p, f in list_snapshots(store.snapshots_dir, "1w")}
    assert list(landed) == list(whole) and len(whole) > 10
    assert all(landed[p].equals(whole[p]) for p in whole)
