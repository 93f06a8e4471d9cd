"""Periods and summaries: the ``Period`` value, ``assign_periods`` (snapshot period per row)
and ``describe``.

DESIGN §1 "Snapshots": a period is named by its start date; weeks start on Monday, months on
the 1st; days, weeks and months are UTC calendar periods.
"""

from __future__ import annotations

import enum
import numbers
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from raie_core.data.schema import Dataset, check_interactions, parse_enum
from raie_core.errors import RaieConfigError, RaieStateError

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


_BOUNDARY = {Every.DAY: "any day", Every.WEEK: "a Monday", Every.MONTH: "the 1st of a month"}
_EPOCH = date(1970, 1, 1)
_DAY_S = 86_400
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_KEY_PREFIX = "period="


@dataclass(frozen=True)
class Period:
    """One snapshot period [start, end) in UTC: a day, a Monday-to-Sunday week or a month.

    start: its first day (a Monday for 1w, the 1st for 1mo); every: its length (an ``Every``
    or its string). Every other form of a period is a conversion here: ``label`` (ISO start
    date), ``code`` (sample-key code), ``key`` (store folder name), epoch seconds.
    """

    start: date
    every: Every

    def __post_init__(self) -> None:
        object.__setattr__(self, "every", Every.parse(self.every))
        if type(self.start) is not date:
            raise _bad(repr(self.start), "should be a date (not a time)")
        if _floor(self.start, self.every) != self.start:
            rule = f"should start a {self.every.value} period ({_BOUNDARY[self.every]})"
            raise _bad(self.start.isoformat(), rule)

    @classmethod
    def containing(cls, when: int | date, every: Every | str) -> Period:
        """The period holding ``when``: UTC epoch seconds (int) or a day."""
        if isinstance(when, numbers.Integral) and not isinstance(when, bool):
            day = _EPOCH + timedelta(days=int(when) // _DAY_S)
        elif type(when) is date:
            day = when
        else:
            raise RaieConfigError(f"when={when!r} should be UTC epoch seconds or a date")
        step = Every.parse(every)
        return cls(_floor(day, step), step)

    @classmethod
    def last_complete(cls, today: date, every: Every | str) -> Period:
        """The newest period that has ended by the start of ``today`` (1d: yesterday)."""
        latest = cls.containing(today - timedelta(days=1), every)
        return latest if latest.end <= today else latest.previous

    @classmethod
    def parse(cls, text: str, every: Every | str) -> Period:
        """The period starting on ``text`` (YYYY-MM-DD); RaieConfigError names a bad value."""
        if not isinstance(text, str) or not _ISO_DATE.fullmatch(text):
            raise _bad(repr(text), "should be a date like 2024-01-01")
        try:
            start = date.fromisoformat(text)
        except ValueError:
            raise _bad(repr(text), "is not a calendar date") from None
        return cls(start, every)

    @classmethod
    def from_key(cls, name: str, every: Every | str) -> Period:
        """The period a store folder ``period=YYYY-MM-DD`` names; RaieStateError if it is not
        a key or does not start an ``every`` period (a store cut with another length)."""
        if not cls.is_key(name):
            raise RaieStateError(f"folder {name!r} should be named like period=2024-01-01")
        try:
            return cls.parse(name.removeprefix(_KEY_PREFIX), every)
        except RaieConfigError as error:
            raise RaieStateError(f"folder {name}: {error}") from None

    @staticmethod
    def is_key(name: str) -> bool:
        """Whether ``name`` has the form of a period folder name (``period=YYYY-MM-DD``)."""
        return name.startswith(_KEY_PREFIX) and bool(
            _ISO_DATE.fullmatch(name.removeprefix(_KEY_PREFIX))
        )

    @classmethod
    def from_code(cls, code: int, every: Every | str) -> Period:
        """Inverse of ``code``; RaieConfigError for a code that names no day (setup's 0)."""
        if isinstance(code, bool) or not isinstance(code, numbers.Integral) or code < 1:
            raise RaieConfigError(f"code={code!r} should be a day's proleptic ordinal (>= 1)")
        return cls(date.fromordinal(int(code)), every)

    @staticmethod
    def range(first: Period, last: Period) -> Iterator[Period]:
        """The consecutive periods from ``first`` through ``last`` (none if last < first)."""
        if first.every is not last.every:
            raise RaieConfigError(
                f"range({first.label}, {last.label}) mixes {first.every.value} and "
                f"{last.every.value} periods"
            )
        period = first
        while period.start <= last.start:
            yield period
            period = period.next

    @property
    def end(self) -> date:
        """The first day after the period."""
        if self.every is Every.MONTH:
            month = self.start.month
            return date(self.start.year + month // 12, month % 12 + 1, 1)
        return self.start + timedelta(days=1 if self.every is Every.DAY else 7)

    @property
    def next(self) -> Period:
        return Period(self.end, self.every)

    @property
    def previous(self) -> Period:
        return Period.containing(self.start - timedelta(days=1), self.every)

    @property
    def label(self) -> str:
        """The ISO start date, e.g. ``2024-01-01`` (manifests, lineage tags, reports)."""
        return self.start.isoformat()

    @property
    def code(self) -> int:
        """Sample-key code of the period's windows: the start's proleptic ordinal (>= 1, so
        never ``raie_core.evaluation.SETUP_CODE`` = 0)."""
        return self.start.toordinal()

    @property
    def key(self) -> str:
        """The folder name of the period in snapshots and work areas: ``period=YYYY-MM-DD``."""
        return f"{_KEY_PREFIX}{self.label}"

    @property
    def start_seconds(self) -> int:
        """UTC epoch seconds of the start (inclusive)."""
        return (self.start - _EPOCH).days * _DAY_S

    @property
    def end_seconds(self) -> int:
        """UTC epoch seconds of the end (exclusive)."""
        return (self.end - _EPOCH).days * _DAY_S


def _bad(value: str, rule: str) -> RaieConfigError:
    return RaieConfigError(f"period={value} {rule}")


def _floor(day: date, every: Every) -> date:
    if every is Every.WEEK:
        return day - timedelta(days=day.weekday())
    if every is Every.MONTH:
        return day.replace(day=1)
    return day


def period_start(timestamp: pl.Expr, every: Every | str) -> pl.Expr:
    """Int64 UTC seconds -> Date of the period start (Monday for weeks, the 1st for months);
    the column form of ``Period.containing(seconds, every).start``."""
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
    return Period.containing(seconds, Every.DAY).label


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
