"""`raie data replay`: play a real dataset into a landing zone period by period (simulated
arrival for the demo, the tests and users trying the nightly job on historical data).

Every period that starts on or after ``since`` (setup's cut) and has ended by ``until``
becomes one table `LANDING/YYYY-MM-DD.parquet` (the period's start; the schema's columns) of
the dataset's rows from ``since`` on, written atomically under a hidden temp name, so an
ingest never reads half a file. Re-running writes nothing new: a file already there with the
same rows is kept as it is (its digest, recorded by the ingest, stays the same); one with other
rows is refused in one sentence.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from raie_core.data import Every, Period, assign_periods, load_dataset
from raie_core.errors import RaieStateError
from tasks.ingest import write_parquet_atomic

SUFFIX = ".parquet"


def replay_file(into: Path, period: Period) -> Path:
    """The landing file of ``period``: `INTO/YYYY-MM-DD.parquet`."""
    return into / f"{period.label}{SUFFIX}"


def data_periods(interactions: pl.DataFrame, since: date, every: Every | str) -> list[Period]:
    """The periods holding rows of ``interactions`` from ``since`` on, oldest first."""
    start = Period.containing(since, Every.DAY).start_seconds
    frame = assign_periods(interactions.filter(pl.col("timestamp") >= start), every)
    return [Period(d, every) for d in frame.get_column("period").unique().sort().to_list()]


def replay_frame(
    interactions: pl.DataFrame, into: Path, since: date, until: date, every: Every | str
) -> dict:
    """Write the periods of ``interactions`` (interactions schema) in [since, until) into
    ``into`` (rules above); a summary: files written, files already there, rows written and
    the first / last period replayed (None when no period qualifies)."""
    start = Period.containing(since, Every.DAY).start_seconds
    frame = assign_periods(interactions, every).filter(pl.col("timestamp") >= start)
    summary = {"into": str(into), "written": 0, "unchanged": 0, "rows": 0}
    periods = []
    for (begin,), part in frame.partition_by("period", as_dict=True, maintain_order=True).items():
        period = Period(begin, every)
        if period.end > until:
            continue
        periods.append(period)
        rows, target = part.drop("period"), replay_file(into, period)
        if target.is_file():
            if not pl.read_parquet(target).equals(rows):
                raise RaieStateError(
                    f"{target} already holds other rows than the replay of {period.label} "
                    "(rule: replay into a folder of earlier replays of the same data only)"
                )
            summary["unchanged"] += 1
            continue
        write_parquet_atomic(rows, target)
        summary["written"] += 1
        summary["rows"] += rows.height
    periods.sort(key=lambda p: p.start)
    labels = [p.label for p in periods]
    return summary | {
        "first": labels[0] if labels else None,
        "last": labels[-1] if labels else None,
    }


def replay(
    dataset: str,
    into: Path,
    since: date,
    until: date,
    every: Every | str,
    *,
    path: str | Path | None = None,
    mode: str = "strict",
    mapping: dict[str, str] | None = None,
) -> dict:
    """`replay_frame` of a dataset loaded as setup loads it (`raie_core.data.load_dataset`)."""
    loaded = load_dataset(dataset, path, mode=mode, mapping=mapping)
    return replay_frame(loaded.interactions, Path(into), since, until, every)
