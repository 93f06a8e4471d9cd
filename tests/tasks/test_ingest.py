"""Snapshots on disk: partitions per period, catalog, quarantine beside the output, idempotence."""

import hashlib
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from raie_core.data import InvalidValueError, MissingFileError
from raie_core.errors import RaieStateError
from tasks import ingest


def _digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_ml100k_weekly_snapshots_are_complete_and_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    paths = ingest.write_snapshots("ml-100k", out, "1w")
    listed = ingest.list_snapshots(out, "1w")
    assert [p for _, p in listed] == paths == ingest.snapshot_files(out)
    assert listed[0][0].start == date(1997, 9, 15) and listed[-1][0].start == date(1998, 4, 20)
    assert all(period.start.weekday() == 0 and p.parent.name == period.key for period, p in listed)
    assert len(paths) == 32
    frames = [ingest.read_snapshot(p) for p in paths]
    assert sum(f.height for f in frames) == 100000
    assert frames[0].get_column("timestamp").min() == 874724710
    assert pl.read_parquet(out / "catalog.parquet").height == 1682
    assert not (out / "quarantine.parquet").exists()
    before = _digest(paths)
    again = ingest.write_snapshots("ml-100k", out, "1w")
    assert again == paths and _digest(again) == before
    assert not list(out.rglob("*.tmp"))


def test_rerun_with_another_period_removes_stale_snapshots(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t1\t5\t0\n1\t2\t4\t864000\n2\t1\t3\t2678400\n")
    out = tmp_path / "out"
    daily = ingest.write_snapshots("movielens", out, "1d", path=tmp_path)
    assert [p.parent.name for p in daily] == [
        "period=1970-01-01", "period=1970-01-11", "period=1970-02-01",
    ]  # fmt: skip
    with pytest.raises(RaieStateError, match="folder period=1970-01-11: .* 1mo period"):
        ingest.list_snapshots(out, "1mo")  # daily snapshots are no months
    monthly = ingest.write_snapshots("movielens", out, "1mo", path=tmp_path)
    listed = ingest.list_snapshots(out, "1mo")
    assert [period.label for period, _ in listed] == ["1970-01-01", "1970-02-01"]
    assert monthly == [p for _, p in listed] == ingest.snapshot_files(out)
    assert ingest.read_snapshot(monthly[0]).get_column("item_id").to_list() == [1, 2]


def test_quarantine_is_written_beside_the_output(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t1\t5\t0\n1\t2\t9\t10\n2\t1\tx\t20\n2\t2\t3\t30\n")
    out = tmp_path / "out"
    paths = ingest.write_snapshots("movielens", out, "1w", path=tmp_path, mode="quarantine")
    quarantine = pl.read_parquet(out / "quarantine.parquet")
    assert quarantine.select("row", "column").sort("row").rows() == [(2, "rating"), (3, "rating")]
    assert set(quarantine.get_column("file")) == {str(tmp_path / "u.data")}
    kept = pl.concat([ingest.read_snapshot(p) for p in paths])
    assert kept.select("user_id", "item_id").rows() == [(1, 1), (2, 2)]
    with pytest.raises(InvalidValueError, match="rating is a number.* at row 3"):
        ingest.write_snapshots("movielens", tmp_path / "strict", "1w", path=tmp_path)
    assert not (tmp_path / "strict").exists()


def test_read_snapshot_checks_the_schema(tmp_path: Path) -> None:
    bad = tmp_path / "period=2020-01-01" / "interactions.parquet"
    bad.parent.mkdir()
    pl.DataFrame({"user_id": [1], "item_id": [2], "timestamp": ["x"]}).write_parquet(bad)
    with pytest.raises(InvalidValueError, match="'timestamp' has dtype String"):
        ingest.read_snapshot(bad.parent)
    with pytest.raises(MissingFileError):
        ingest.read_snapshot(tmp_path / "nope.parquet")
    assert ingest.list_snapshots(tmp_path / "missing", "1w") == []


def test_validate_source_detects_the_format(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t1\t5\t0\n")
    report = ingest.validate_source(tmp_path)
    assert report["format"] == "movielens"
    assert (report["ratings"], report["users"], report["items"]) == (1, 1, 1)
    with pytest.raises(MissingFileError, match="no known data file"):
        ingest.validate_source(tmp_path / "empty-dir-that-is-missing")


def test_snapshots_are_sealed_and_checked_when_read_back(tmp_path: Path) -> None:
    from raie_core.errors import RaieCorruptError
    from tasks import snapshot_seal

    (tmp_path / "u.data").write_text("1\t1\t5\t0\n1\t2\t4\t864000\n2\t1\t3\t2678400\n")
    out = tmp_path / "out"
    paths = ingest.write_snapshots("movielens", out, "1w", path=tmp_path)
    recorded = snapshot_seal.recorded(out)
    assert recorded is not None
    assert sorted(recorded) == sorted(
        [p.relative_to(out).as_posix() for p in paths] + ["catalog.parquet"]
    )
    assert recorded["catalog.parquet"] == _digest([out / "catalog.parquet"])[0]
    present = [*paths, out / "catalog.parquet"]
    assert snapshot_seal.problems(out, present) == []

    good = paths[0].read_bytes()
    paths[0].write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    with pytest.raises(RaieCorruptError, match=f"snapshot file {paths[0]} does not match"):
        ingest.read_snapshot(paths[0])
    assert [str(e) for e in snapshot_seal.problems(out, present)] == [
        f"snapshot file {paths[0]} does not match the digest recorded when it was written "
        f"(sha256 {_digest([paths[0]])[0][:12]} != {recorded[paths[0].relative_to(out).as_posix()][:12]})"
        ": the file is corrupted"
    ]
    paths[0].write_bytes(good)
    assert ingest.read_snapshot(paths[0]).height == 1

    catalog = (out / "catalog.parquet").read_bytes()
    (out / "catalog.parquet").write_bytes(catalog + b"\0")
    with pytest.raises(RaieCorruptError, match="catalog.parquet does not match"):
        ingest.read_catalog(out)
    (out / "catalog.parquet").write_bytes(catalog)
    assert ingest.read_catalog(out).height == 2

    stray = out / "period=1970-03-01" / "interactions.parquet"
    stray.parent.mkdir()
    stray.write_bytes(paths[0].read_bytes())  # a valid file, copied in by hand
    with pytest.raises(RaieCorruptError, match="has no digest in .*digests.json"):
        ingest.read_snapshot(stray)
    paths[1].unlink()
    found = [str(e) for e in snapshot_seal.problems(out, [paths[0], paths[2], stray])]
    assert len(found) == 2
    assert "has no digest" in found[0] and str(stray) in found[0]
    assert found[1:] == [
        f"snapshot file {paths[1]} is recorded in digests.json but missing",
    ]

    (out / "digests.json").write_text("{not json")
    with pytest.raises(RaieCorruptError, match="snapshot digests .*digests.json are corrupted"):
        ingest.read_snapshot(paths[0])
    (out / "digests.json").unlink()  # a folder cut before snapshots were sealed: read unchecked
    assert ingest.read_snapshot(stray).height == 1
