"""Ingest tasks: cut a dataset into period snapshots, read them back, describe and validate.

Layout written by ``write_snapshots`` (DESIGN §1 "Snapshots")::

    DIR/period=YYYY-MM-DD/interactions.parquet   one per period (period start date)
    DIR/catalog.parquet                          the item catalog
    DIR/quarantine.parquet                       bad rows set aside (quarantine mode only)
    DIR/digests.json                             sha256 of each snapshot and the catalog

Every file is written atomically (temp file, fsync, rename), so a re-run over DIR is idempotent;
snapshots and the catalog are checked against their recorded digest when read back
(`tasks.snapshot_seal`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl

from raie_core.data import (
    Dataset,
    Every,
    Period,
    assign_periods,
    check_interactions,
    describe,
    load_dataset,
)
from raie_core.data.errors import MissingFileError
from tasks import snapshot_seal
from tasks.faults import fault_point

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "interactions.parquet"
CATALOG_FILE = "catalog.parquet"
QUARANTINE_FILE = "quarantine.parquet"


def write_parquet_atomic(
    frame: pl.DataFrame,
    path: Path,
    metadata: dict[str, str] | None = None,
    fault: str | None = None,
    staged: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``frame`` (+ parquet key-value ``metadata``) to ``path`` via a temp file in the
    same folder (``.NAME.PID.tmp``), fsync, then rename. Between the two: ``staged(tmp)``
    (e.g. record the new file's digest, `snapshot_seal.expect`), then ``fault``, a
    `tasks.faults` point (the temp file is complete, ``path`` not yet replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.write_parquet(tmp, metadata=metadata)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    if staged is not None:
        staged(tmp)
    if fault is not None:
        fault_point(fault)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def write_snapshots(
    dataset: str,
    out: str | Path,
    every: str = "1w",
    *,
    path: str | Path | None = None,
    mode: str = "strict",
    mapping: dict[str, str] | None = None,
) -> list[Path]:
    """Load ``dataset`` and write one snapshot per period under ``out``; return the paths (sorted).

    Stale ``period=*`` snapshots from an earlier run (e.g. another ``every``) are removed.
    """
    loaded = load_dataset(dataset, path, mode=mode, mapping=mapping)
    return save_snapshots(loaded, Path(out), every)


def save_snapshots(
    dataset: Dataset, out: Path, every: str, before: date | None = None
) -> list[Path]:
    """Write the snapshots, catalog and quarantine of a loaded dataset under ``out``: every
    period, or those that start before ``before`` (setup's history)."""
    frame = assign_periods(dataset.interactions, every)
    if before is not None:
        frame = frame.filter(pl.col("period") < before)
    written = []
    for (start,), part in frame.partition_by("period", as_dict=True, maintain_order=True).items():
        target = out / Period(start, every).key / SNAPSHOT_FILE
        written.append(write_parquet_atomic(part.drop("period"), target))
    written.sort()
    _remove_stale(out, set(written))
    write_parquet_atomic(dataset.items, out / CATALOG_FILE)
    quarantine = out / QUARANTINE_FILE
    if dataset.quarantined.height:
        write_parquet_atomic(dataset.quarantined, quarantine)
        log.warning("%d bad rows quarantined in %s", dataset.quarantined.height, quarantine)
    elif quarantine.exists():
        quarantine.unlink()
    snapshot_seal.seal(out, [*written, out / CATALOG_FILE])
    log.info("wrote %d snapshots of %s to %s", len(written), dataset.name, out)
    return written


def _remove_stale(out: Path, keep: set[Path]) -> None:
    for snapshot in snapshot_files(out):
        if snapshot not in keep:
            snapshot.unlink()
            if not any(snapshot.parent.iterdir()):
                snapshot.parent.rmdir()


def snapshot_files(directory: str | Path) -> list[Path]:
    """Every ``period=YYYY-MM-DD/interactions.parquet`` under ``directory``, oldest first,
    whatever period length cut them."""
    root = Path(directory)
    if not root.is_dir():
        return []
    children = sorted(c for c in root.iterdir() if Period.is_key(c.name))
    return [c / SNAPSHOT_FILE for c in children if (c / SNAPSHOT_FILE).is_file()]


def list_snapshots(directory: str | Path, every: Every | str) -> list[tuple[Period, Path]]:
    """(period, snapshot path) of every snapshot, oldest first; RaieStateError names a folder
    that does not start an ``every`` period (snapshots cut with another length)."""
    return [(Period.from_key(p.parent.name, every), p) for p in snapshot_files(directory)]


def read_snapshot(path: str | Path) -> pl.DataFrame:
    """One snapshot's interactions, checked against the interactions schema."""
    snapshot = Path(path)
    if snapshot.is_dir():
        snapshot = snapshot / SNAPSHOT_FILE
    if not snapshot.is_file():
        raise MissingFileError(
            f"{snapshot}: snapshot not found (rule: written by raie data snapshots)"
        )
    snapshot_seal.verified(snapshot.parent.parent, snapshot)
    return check_interactions(pl.read_parquet(snapshot), str(snapshot))


def read_catalog(directory: str | Path) -> pl.DataFrame:
    """The item catalog of a snapshot folder, checked against its recorded digest."""
    folder = Path(directory)
    return pl.read_parquet(snapshot_seal.verified(folder, folder / CATALOG_FILE))


def describe_dataset(
    dataset: str,
    path: str | Path | None = None,
    *,
    mode: str = "strict",
    mapping: dict[str, str] | None = None,
) -> dict:
    """``describe`` of a loaded dataset (a JSON-ready dict)."""
    return describe(load_dataset(dataset, path, mode=mode, mapping=mapping))


def detect_format(path: str | Path) -> str:
    """Guess the source format of ``path``: a file is a table, a folder by its files."""
    root = Path(path)
    if root.is_file():
        return "table"
    if (root / "ml-100k.inter").is_file():
        return "ml-100k"
    if (root / "ml-1m.inter").is_file():
        return "ml-1m"
    if (root / "ratings.dat").is_file() or (root / "u.data").is_file():
        return "movielens"
    if any((root / n).is_file() for n in ("review.json", "yelp_academic_dataset_review.json")):
        return "yelp"
    raise MissingFileError(
        f"{root}: no known data file found (rule: a table file, or a folder with ml-100k.inter, "
        "ml-1m.inter, ratings.dat, u.data or review.json)"
    )


def validate_source(
    path: str | Path,
    fmt: str | None = None,
    *,
    mode: str = "strict",
    mapping: dict[str, str] | None = None,
) -> dict:
    """Load ``path`` as ``fmt`` (guessed when None) and return counts, or raise the data error."""
    name = fmt or detect_format(path)
    summary = describe(load_dataset(name, path, mode=mode, mapping=mapping))
    keys = ("ratings", "users", "items", "catalog_items", "first", "last", "quarantined")
    return {"path": str(path), "format": name, **{k: summary[k] for k in keys}}
