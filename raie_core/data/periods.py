"""Periods and summaries: ``assign_periods`` (snapshot period per row) and ``describe``.

DESIGN §1 "Snapshots": a period is named by its start date; weeks start on Monday.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import polars as pl

from raie_core.data.schema import Dataset, check_interactions, parse_enum

DEFAULT_POSITIVE_THRESHOLD = 4.0


class Every(enum.Enum):
    """Snapshot period lengths (polars duration strings)."""

    DAY = "1d"
    WEEK = "1w"
    MONTH = "1mo"

    @classmethod
    def parse(cls, value: Every | str) -> Every:
        """Accept the enum or its string; raise RaieConfigError naming the bad value."""
        return parse_enum(cls, value, "every")


def period_start(timestamp: pl.Expr, every: Every | str) -> pl.Expr:
    """Int64 UTC seconds -> Date of the period start (Monday for weeks, the 1st for months)."""
    step = Every.parse(every).value
    return pl.from_epoch(timestamp, time_unit="s").dt.truncate(step).dt.date()


def assign_periods(interactions: pl.DataFrame, every: Every | str) -> pl.DataFrame:
    """Add ``period`` (Date, the period start) to interactions (timestamp Int64 UTC seconds)."""
    period = period_start(pl.col("timestamp"), every)
    check_interactions(interactions)
    return interactions.with_columns(period.alias("period"))


def _iso_date(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).date().isoformat()


def describe(dataset: Dataset, positive_threshold: float = DEFAULT_POSITIVE_THRESHOLD) -> dict:
    """Summary numbers of a dataset (JSON-ready).

    ratings, users, items (distinct in interactions), catalog_items, first/last (ISO dates, UTC),
    positives (rating >= positive_threshold; every row when there are no ratings), sparsity
    (1 - ratings / (users * items)), ratings_histogram {rating: count}, interactions_per_user
    {min, median, max}, quarantined (rows set aside).
    """
    frame = dataset.interactions
    users = frame.get_column("user_id").n_unique()
    items = frame.get_column("item_id").n_unique()
    ratings = frame.get_column("rating").drop_nulls()
    positives = frame.height if ratings.len() == 0 else int((ratings >= positive_threshold).sum())
    counts = frame.group_by("rating").len().drop_nulls("rating").sort("rating")
    per_user = frame.group_by("user_id").len().get_column("len")
    return {
        "name": dataset.name,
        "ratings": frame.height,
        "users": users,
        "items": items,
        "catalog_items": dataset.items.height,
        "first": _iso_date(frame.get_column("timestamp").min()),
        "last": _iso_date(frame.get_column("timestamp").max()),
        "positives": positives,
        "positive_threshold": positive_threshold,
        "sparsity": 1.0 - frame.height / (users * items) if users and items else None,
        "ratings_histogram": {f"{r:g}": n for r, n in counts.iter_rows()},
        "interactions_per_user": {
            "min": int(per_user.min()) if per_user.len() else None,
            "median": float(per_user.median()) if per_user.len() else None,
            "max": int(per_user.max()) if per_user.len() else None,
        },
        "quarantined": dataset.quarantined.height,
        "sources": list(dataset.sources),
    }
