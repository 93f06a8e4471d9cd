"""The landing zone and the nightly flow's first task: ingest what landed for a period.

A landing zone is a folder where files of new interactions arrive: by default
`<home>/landing/<dataset>/` (`Store.landing_dir`); the flows' ``landing`` parameter and
`raie update|backfill --landing` choose another. Each entry is one source, read by setup's own
loaders and validated strictly (`tasks.ingest.detect_format`)::

    LANDING/NAME.csv | .tsv | .parquet   a table with the schema's column names
                                         (user_id, item_id, timestamp[, rating])
    LANDING/NAME/                        a MovieLens (ratings.dat, u.data) or Yelp folder
    LANDING/.NAME                        ignored: still being written (write it, then rename)

An ingest of period P (`ingest_period`) reads every entry not yet ingested and applies
`raie_core.data.arrivals`: rows of P are added to P's snapshot; a row already ingested (same
user_id, item_id, timestamp) adds nothing; a late row, of a closed period (before the setup
cut, or published), is added to P's snapshot with its own timestamp (history for later
windows, never a target of the closed period, whose version does not change); rows of other
open periods (later ones, or earlier ones never run: backfill runs them) wait in their entry
for their own period's ingest. A bad entry
stops the ingest before anything is written: one sentence names its file, column and value,
and the entry stays where it is (fix or remove it and re-run). Items missing from setup's
catalog are refused the same way (the model has no embedding for them).

The entries an ingest consumed are recorded, with their sha256 and counts, in the parquet
metadata (`LEDGER_KEY`) of the snapshot it writes: rows and record are replaced together by
one atomic rename (`tasks.ingest.write_parquet_atomic`), so a crash leaves either nothing or
the whole ingest, and a re-run reads only entries not recorded as complete. raie never moves
or deletes landed files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from prefect import get_run_logger, task

from raie_core.data import Every, Period, load_dataset, period_start
from raie_core.data.arrivals import KEY, Closed, sort_arrivals
from raie_core.data.errors import InvalidValueError, MissingFileError
from raie_core.errors import RaieStateError
from tasks import ingest, snapshot_seal
from tasks.durable import file_sha256, tree_digest, utc_now
from tasks.retry import retry_io_only
from tasks.store import Store

LEDGER_KEY = "raie.landing"
"""The snapshot parquet metadata key holding the JSON list of entries ingested into it."""
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
"""A period label (setup's version is labelled setup-YYYY-MM-DD: not a closed period)."""
COUNTS = ("files", "rows", "late", "duplicates", "deferred")
"""The fields of an ingest report (`ingest_period`)."""


@dataclass(frozen=True)
class Landed:
    """One landing-zone entry (a file or a source folder) and the sha256 of its content."""

    path: Path
    digest: str


def landing_zone(store: Store, landing: str | Path | None) -> Path:
    """The landing zone of a run: ``landing`` (which must exist) or the dataset's default
    (`Store.landing_dir`, an empty zone while it does not exist)."""
    if landing is None:
        return store.landing_dir
    zone = Path(landing).resolve()
    if not zone.is_dir():
        raise MissingFileError(
            f"{zone}: the landing zone is not a folder (rule: --landing names one)"
        )
    return zone


def entries(zone: Path) -> list[Landed]:
    """Every entry of ``zone`` (names starting with "." are ignored), sorted by name."""
    if not zone.is_dir():
        return []
    found = sorted(p for p in zone.iterdir() if not p.name.startswith("."))
    return [Landed(p, file_sha256(p) if p.is_file() else tree_digest(p)) for p in found]


def ledger(store: Store) -> list[dict]:
    """Every ingest record of the dataset's snapshots, oldest snapshot first."""
    records: list[dict] = []
    for snapshot in ingest.snapshot_files(store.snapshots_dir):
        records += _records(snapshot)
    return records


def _records(snapshot: Path) -> list[dict]:
    if not snapshot.is_file():
        return []
    return json.loads(pl.read_parquet_metadata(snapshot).get(LEDGER_KEY, "[]"))


def pending(store: Store, zone: Path) -> list[Landed]:
    """The entries of ``zone`` not yet ingested completely (no record without deferred rows)."""
    done = {r["digest"] for r in ledger(store) if r["deferred"] == 0}
    return [entry for entry in entries(zone) if entry.digest not in done]


def read_entry(entry: Landed, seen: pl.DataFrame, catalog: pl.Series) -> pl.DataFrame:
    """An entry's interactions, validated as setup's data (strict) and against what setup
    ingested: ids of the same kind as ``seen``'s, items in ``catalog``."""
    frame = load_dataset(ingest.detect_format(entry.path), entry.path, mode="strict").interactions
    for column in ("user_id", "item_id"):
        if frame.schema[column] != seen.schema[column]:
            raise InvalidValueError(
                f"{entry.path}: column {column!r} holds {frame.schema[column]} ids (first value "
                f"{frame[column][0]!r}) where setup's data holds {seen.schema[column]} ids "
                "(rule: ids of the same kind as setup's data)"
            )
    unknown = frame.filter(~pl.col("item_id").is_in(catalog.implode()))
    if unknown.height:
        raise InvalidValueError(
            f"{entry.path}: column 'item_id' value {unknown['item_id'][0]!r} is not in the "
            f"catalog setup ingested ({unknown.height} rows; rule: items of setup's catalog)"
        )
    return frame


def _seen(store: Store) -> pl.DataFrame:
    snapshots = ingest.snapshot_files(store.snapshots_dir)
    if not snapshots:
        raise RaieStateError(f"no snapshots in {store.snapshots_dir}; run `raie setup` first")
    return pl.concat([pl.read_parquet(p, columns=list(KEY)) for p in snapshots])


def closed_periods(store: Store, cut: date) -> Closed:
    """The closed periods of the dataset: those before the setup ``cut`` and the published."""
    labels = [store.read_manifest(v).period for v in store.versions()]
    return Closed(cut, frozenset(date.fromisoformat(x) for x in labels if _ISO.fullmatch(x)))


def ingest_period(store: Store, zone: Path, period: Period, cut: date) -> dict:
    """Ingest the pending entries of ``zone`` into ``period``'s snapshot (rules above; ``cut``:
    the setup cut); the counts (`COUNTS`: files recorded, rows added, late rows among them,
    duplicates, rows left for other periods). Call under the dataset lock."""
    todo = pending(store, zone)
    report = dict.fromkeys(COUNTS, 0)
    if not todo:
        return report
    seen = _seen(store)
    catalog = ingest.read_catalog(store.snapshots_dir).select("item_id")
    frames = [(entry, read_entry(entry, seen, catalog["item_id"])) for entry in todo]
    records, parts = [], []
    closed = closed_periods(store, cut)
    for entry, frame in frames:
        arrivals = sort_arrivals(frame, seen, period, closed)
        seen = pl.concat([seen, arrivals.rows.select(KEY)])
        counts = {"rows": arrivals.rows.height, "late": arrivals.late}
        counts |= {"duplicates": arrivals.duplicates, "deferred": arrivals.deferred}
        for name, value in counts.items():
            report[name] += value
        if arrivals.rows.height or not arrivals.deferred:
            record = {"entry": entry.path.name, "digest": entry.digest, "period": period.label}
            records.append(record | counts | {"ingested_utc": utc_now()})
            parts.append(arrivals.rows)
    report["files"] = len(records)
    if records:
        _write(store.snapshots_dir / period.key / ingest.SNAPSHOT_FILE, parts, records)
    return report


def _write(snapshot: Path, parts: list[pl.DataFrame], records: list[dict]) -> None:
    """Replace ``snapshot`` by its rows + ``parts``, its record by its own + ``records``."""
    for stale in (
        snapshot.parent.glob(f".{snapshot.name}.*.tmp") if snapshot.parent.is_dir() else ()
    ):
        stale.unlink()  # a temp file of an ingest killed before its rename (under the lock)
    old = [ingest.read_snapshot(snapshot)] if snapshot.is_file() else []
    frame = pl.concat([*old, *parts], how="vertical_relaxed")
    metadata = {LEDGER_KEY: json.dumps(_records(snapshot) + records)}
    folder = snapshot.parent.parent
    ingest.write_parquet_atomic(
        frame,
        snapshot,
        metadata,
        fault="ingest-staged",
        staged=lambda tmp: snapshot_seal.expect(folder, snapshot, tmp),
    )
    snapshot_seal.seal(folder, [snapshot])


def landed_periods(store: Store, zone: Path, every: Every | str) -> list[Period]:
    """The periods of the rows waiting in ``zone``'s pending entries, oldest first (entries
    validated as an ingest would)."""
    todo = pending(store, zone)
    if not todo:
        return []
    seen = _seen(store)
    catalog = ingest.read_catalog(store.snapshots_dir).select("item_id")
    frames = [read_entry(e, seen, catalog["item_id"]).select("timestamp") for e in todo]
    starts = pl.concat(frames).select(period_start(pl.col("timestamp"), every).unique().sort())
    return [Period(start, every) for start in starts.to_series().to_list()]


def describe_ingest(report: dict, period: Period) -> str:
    """One line for logs and the demo: what an ingest added to ``period``."""
    return (
        f"ingested {report['files']} file(s), {report['rows']} rows into {period.label} "
        f"({report['late']} late, {report['duplicates']} duplicates, "
        f"{report['deferred']} left for other periods)"
    )


@task(name="ingest-landing", retries=1, retry_condition_fn=retry_io_only)
def ingest_landing(store: Store, landing: str | None, period: Period, cut: date) -> dict:
    """The nightly flow's first task: `ingest_period` from the run's landing zone."""
    report = ingest_period(store, landing_zone(store, landing), period, cut)
    get_run_logger().info(describe_ingest(report, period))
    return report
