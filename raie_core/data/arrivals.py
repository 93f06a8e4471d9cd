"""Arrivals: which rows of newly landed interactions a period's ingest adds (DESIGN §1).

``sort_arrivals(arrived, seen, period)`` applies the landing zone's rules to one landed file:

* a row whose key (user_id, item_id, timestamp) is already ingested (``seen``) or repeated
  earlier in the file is a **duplicate** and adds nothing;
* a row of the period ([start, end)) is added;
* a **late** row (timestamp before the period's start: its own period is closed) is added too,
  with its own timestamp, to the period being ingested: history for every later window, never
  a target of the closed period (whose published version does not change);
* a **deferred** row (timestamp at or after the period's end) is left for its own period.

Pure: reads and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from raie_core.data.periods import Period
from raie_core.data.schema import check_interactions

KEY = ("user_id", "item_id", "timestamp")
"""The columns that identify an interaction: the same key twice is one interaction."""


@dataclass(frozen=True)
class Arrivals:
    """What one landed file adds to a period's snapshot.

    rows: (n, interactions schema) the rows to add (the period's and the late ones), in the
    file's order; late: how many of them are late; duplicates: rows already ingested or repeated;
    deferred: rows after the period, left for their own period's ingest.
    """

    rows: pl.DataFrame
    late: int
    duplicates: int
    deferred: int


def sort_arrivals(arrived: pl.DataFrame, seen: pl.DataFrame, period: Period) -> Arrivals:
    """Split ``arrived`` (interactions schema) by the rules above; ``seen``: the KEY columns of
    every row already ingested (any order, same id dtypes as ``arrived``)."""
    arrived = check_interactions(arrived, "arrived")
    before_end = arrived.filter(pl.col("timestamp") < period.end_seconds)
    unique = before_end.unique(subset=list(KEY), keep="first", maintain_order=True)
    fresh = unique.join(seen.select(KEY), on=list(KEY), how="anti", maintain_order="left")
    late = fresh.filter(pl.col("timestamp") < period.start_seconds).height
    return Arrivals(
        rows=fresh,
        late=late,
        duplicates=before_end.height - fresh.height,
        deferred=arrived.height - before_end.height,
    )
