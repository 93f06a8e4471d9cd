"""Arrivals: which rows of newly landed interactions a period's ingest adds (DESIGN §1).

``sort_arrivals(arrived, seen, period, closed)`` applies the landing zone's rules to one
landed file:

* a row whose key (user_id, item_id, timestamp) is already ingested (``seen``) or repeated
  earlier in the file is a **duplicate** and adds nothing;
* a row of the period ([start, end)) is added;
* a **late** row, of a closed period (``closed``: before the setup cut, or already published),
  is added too, with its own timestamp, to the period being ingested: history for every later
  window, never a target of the closed period (whose published version does not change);
* a **deferred** row, of another open period (earlier but never run, or later), is left for
  that period's own ingest.

Pure: reads and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from raie_core.data.periods import Period, period_start
from raie_core.data.schema import check_interactions

KEY = ("user_id", "item_id", "timestamp")
"""The columns that identify an interaction: the same key twice is one interaction."""


@dataclass(frozen=True)
class Arrivals:
    """What one landed file adds to a period's snapshot.

    rows: (n, interactions schema) the rows to add (the period's and the late ones), in the
    file's order; late: how many of them are late; duplicates: rows already ingested or repeated;
    deferred: rows of other open periods, left for their own period's ingest.
    """

    rows: pl.DataFrame
    late: int
    duplicates: int
    deferred: int


@dataclass(frozen=True)
class Closed:
    """The periods whose data can no longer be a target: every period starting before
    ``cut`` (the setup cut) and the published ones (``published``: their start dates)."""

    cut: date
    published: frozenset[date] = frozenset()


def sort_arrivals(
    arrived: pl.DataFrame, seen: pl.DataFrame, period: Period, closed: Closed
) -> Arrivals:
    """Split ``arrived`` (interactions schema) by the rules above; ``seen``: the KEY columns of
    every row already ingested (any order, same id dtypes as ``arrived``)."""
    arrived = check_interactions(arrived, "arrived")
    start = period_start(pl.col("timestamp"), period.every)
    is_late = (start < closed.cut) | start.is_in(sorted(closed.published))
    taken = arrived.filter((start == period.start) | is_late)
    unique = taken.unique(subset=list(KEY), keep="first", maintain_order=True)
    fresh = unique.join(seen.select(KEY), on=list(KEY), how="anti", maintain_order="left")
    return Arrivals(
        rows=fresh,
        late=fresh.filter(start != period.start).height,
        duplicates=taken.height - fresh.height,
        deferred=arrived.height - taken.height,
    )
