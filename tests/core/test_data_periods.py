"""Period (one value, its conversions), assign_periods (period start dates; weeks start
Monday) and describe on hand-worked data."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from raie_core.data import (
    Dataset,
    Every,
    MissingColumnError,
    Period,
    assign_periods,
    describe,
    period_start,
)
from raie_core.data.schema import empty_quarantine
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.evaluation import SETUP_CODE, sample_keys, split_keys


def _ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 3],
            "item_id": [10, 11, 10, 12, 10],
            # Sun 1998-03-01 23:59:59, Mon 03-02 00:00, Sat 03-07, Tue 03-31, Wed 04-01
            "timestamp": [
                _ts(1998, 3, 1, 23, 59, 59),
                _ts(1998, 3, 2),
                _ts(1998, 3, 7, 12),
                _ts(1998, 3, 31, 8),
                _ts(1998, 4, 1),
            ],  # fmt: skip
            "rating": [5.0, 4.0, 3.0, None, 1.0],
        }
    )


@pytest.mark.parametrize(
    ("every", "expected"),
    [
        ("1d", ["1998-03-01", "1998-03-02", "1998-03-07", "1998-03-31", "1998-04-01"]),
        ("1w", ["1998-02-23", "1998-03-02", "1998-03-02", "1998-03-30", "1998-03-30"]),
        ("1mo", ["1998-03-01", "1998-03-01", "1998-03-01", "1998-03-01", "1998-04-01"]),
        (Every.WEEK, ["1998-02-23", "1998-03-02", "1998-03-02", "1998-03-30", "1998-03-30"]),
    ],
)
def test_assign_periods(every: str, expected: list[str]) -> None:
    out = assign_periods(_frame(), every)
    assert out.schema["period"] == pl.Date
    assert out.get_column("period").to_list() == [date.fromisoformat(d) for d in expected]
    assert out.drop("period").equals(_frame())
    assert all(d.weekday() == 0 for d in assign_periods(_frame(), "1w")["period"])


@pytest.mark.parametrize("every", ["1h", "2w", "week", ""])
def test_assign_periods_rejects_other_lengths(every: str) -> None:
    with pytest.raises(RaieConfigError, match=f"every='{every}' should be one of 1d, 1w, 1mo"):
        assign_periods(_frame(), every)


def test_assign_periods_needs_a_timestamp() -> None:
    with pytest.raises(MissingColumnError, match="'timestamp'"):
        assign_periods(_frame().drop("timestamp"), "1d")


def test_describe_hand_worked() -> None:
    items = pl.DataFrame(
        {"item_id": [10, 11, 12, 13], "title": ["a", "b", "c", "d"], "genres": [None] * 4,
         "year": [None] * 4},
        schema={"item_id": pl.Int64, "title": pl.String, "genres": pl.String, "year": pl.Int64},
    )  # fmt: skip
    dataset = Dataset("toy", _frame(), items, empty_quarantine(), ("x",))
    summary = describe(dataset)
    assert summary["ratings"] == 5
    assert (summary["users"], summary["items"], summary["catalog_items"]) == (3, 3, 4)
    assert (summary["first"], summary["last"]) == ("1998-03-01", "1998-04-01")
    assert summary["positives"] == 2  # 5.0 and 4.0
    assert summary["sparsity"] == pytest.approx(1 - 5 / 9)
    assert summary["ratings_histogram"] == {"1": 1, "3": 1, "4": 1, "5": 1}
    assert summary["interactions_per_user"] == {"min": 1, "median": 2.0, "max": 2}
    assert summary["quarantined"] == 0


def _period(text: str, every: str) -> Period:
    return Period(date.fromisoformat(text), every)


def test_period_week_runs_monday_to_monday() -> None:
    week = _period("1998-03-02", "1w")  # a Monday
    assert (week.start, week.end, week.every) == (date(1998, 3, 2), date(1998, 3, 9), Every.WEEK)
    assert (week.label, week.key) == ("1998-03-02", "period=1998-03-02")
    assert week.start_seconds == _ts(1998, 3, 2) and week.end_seconds == _ts(1998, 3, 9)
    assert week.next == _period("1998-03-09", "1w")
    assert week.previous == _period("1998-02-23", "1w")
    # Sun 23:59:59 is the previous week's last second, Mon 00:00 this week's first.
    assert Period.containing(_ts(1998, 3, 1, 23, 59, 59), "1w") == week.previous
    assert Period.containing(_ts(1998, 3, 2), "1w") == week
    assert Period.containing(date(1998, 3, 8), Every.WEEK) == week


def test_period_month_rolls_december_into_january() -> None:
    december = _period("1997-12-01", "1mo")
    assert december.end == date(1998, 1, 1)
    assert december.next == _period("1998-01-01", "1mo")
    assert december.next.previous == december
    assert _period("1998-02-01", "1mo").end == date(1998, 3, 1)
    assert Period.containing(_ts(1997, 12, 31, 23, 59, 59), "1mo") == december
    months = list(Period.range(_period("1997-11-01", "1mo"), _period("1998-02-01", "1mo")))
    assert [m.label for m in months] == ["1997-11-01", "1997-12-01", "1998-01-01", "1998-02-01"]
    assert list(Period.range(months[-1], months[0])) == []


def test_period_day() -> None:
    day = _period("1998-03-07", "1d")
    assert (day.end, day.next.label) == (date(1998, 3, 8), "1998-03-08")
    assert day.end_seconds - day.start_seconds == 86_400
    assert Period.containing(-1, "1d").label == "1969-12-31"  # seconds before the epoch


@pytest.mark.parametrize(
    ("today", "every", "expected"),
    [
        ("1998-03-04", "1d", "1998-03-03"),  # yesterday
        ("1998-03-09", "1w", "1998-03-02"),  # a Monday: the week that just ended
        ("1998-03-04", "1w", "1998-02-23"),  # mid-week: the week before this one
        ("1998-03-01", "1mo", "1998-02-01"),  # the 1st: the month that just ended
        ("1998-01-15", "1mo", "1997-12-01"),  # mid-January: December
    ],
)
def test_last_complete(today: str, every: str, expected: str) -> None:
    latest = Period.last_complete(date.fromisoformat(today), every)
    assert latest == _period(expected, every)
    assert latest.end <= date.fromisoformat(today) < latest.next.end


def test_parse_rejects_a_date_off_the_period_boundary() -> None:
    assert Period.parse("2024-01-01", "1w") == _period("2024-01-01", "1w")
    with pytest.raises(
        RaieConfigError, match=r"^period=2024-01-03 should start a 1w period \(a Monday\)$"
    ):
        Period.parse("2024-01-03", "1w")
    with pytest.raises(
        RaieConfigError, match=r"period=2024-01-15 should start a 1mo period \(the 1st"
    ):
        Period(date(2024, 1, 15), Every.MONTH)
    with pytest.raises(RaieConfigError, match="period='2024-1-3' should be a date like 2024-01-01"):
        Period.parse("2024-1-3", "1d")
    with pytest.raises(RaieConfigError, match="period='2024-02-30' is not a calendar date"):
        Period.parse("2024-02-30", "1d")
    with pytest.raises(RaieConfigError, match="should be a date"):
        Period(datetime(2024, 1, 1), "1d")  # type: ignore[arg-type]
    with pytest.raises(RaieConfigError, match="every='2w' should be one of"):
        Period(date(2024, 1, 1), "2w")  # type: ignore[arg-type]


def test_key_round_trip() -> None:
    week = _period("1998-03-02", "1w")
    assert Period.from_key(week.key, "1w") == week
    assert Period.is_key(week.key) and not Period.is_key("catalog.parquet")
    with pytest.raises(RaieStateError, match="folder period=1998-03-03: period=1998-03-03 should"):
        Period.from_key("period=1998-03-03", "1w")  # cut with 1d, read as weeks
    with pytest.raises(RaieStateError, match="should be named like period=2024-01-01"):
        Period.from_key("period=March", "1w")


def test_code_is_the_sample_key_code() -> None:
    week = _period("1998-03-02", "1w")
    assert week.code == date(1998, 3, 2).toordinal() == 729450 and week.code != SETUP_CODE
    assert Period.from_code(week.code, "1w") == week
    codes, rows = split_keys(sample_keys(week.code, 3))
    assert codes.tolist() == [week.code] * 3 and rows.tolist() == [0, 1, 2]
    with pytest.raises(RaieConfigError, match="code=0 should be"):
        Period.from_code(SETUP_CODE, "1w")


def test_containing_agrees_with_the_column_form() -> None:
    seconds = [t for t in _frame().get_column("timestamp")] + [-86_401, 0, 2_000_000_000]
    for every in Every:
        column = pl.select(period_start(pl.Series(seconds, dtype=pl.Int64), every)).to_series()
        assert [Period.containing(t, every).start for t in seconds] == column.to_list()
