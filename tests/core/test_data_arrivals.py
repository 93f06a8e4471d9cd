"""sort_arrivals: the landing zone's rules (duplicates, late, deferred) on a hand-worked week."""

from datetime import UTC, date, datetime

import polars as pl

from raie_core.data import Period
from raie_core.data.arrivals import KEY, sort_arrivals

WEEK = Period(date(1998, 3, 2), "1w")  # Monday 1998-03-02 .. Sunday 03-08


def _ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def _rows(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    users, items, stamps = zip(*rows, strict=True)
    return pl.DataFrame(
        {"user_id": users, "item_id": items, "timestamp": stamps, "rating": [4.0] * len(rows)}
    )


def test_hand_worked_week() -> None:
    on_time, late = (1, 10, _ts(1998, 3, 3)), (2, 11, _ts(1998, 2, 27))
    seen_row, later = (3, 12, _ts(1998, 3, 4)), (4, 13, _ts(1998, 3, 9))
    arrived = _rows([on_time, late, seen_row, later, on_time])
    out = sort_arrivals(arrived, _rows([seen_row]).select(KEY), WEEK)
    assert out.rows.select(KEY).rows() == [on_time, late]
    assert (out.late, out.duplicates, out.deferred) == (1, 2, 1)
    assert out.rows.columns == ["user_id", "item_id", "timestamp", "rating"]


def test_the_same_rows_twice_add_nothing() -> None:
    arrived = _rows([(1, 10, _ts(1998, 3, 3)), (1, 11, _ts(1998, 3, 8, 23))])
    first = sort_arrivals(arrived, arrived.clear().select(KEY), WEEK)
    assert first.rows.height == 2 and first.duplicates == 0
    again = sort_arrivals(arrived, first.rows.select(KEY), WEEK)
    assert again.rows.height == 0 and again.duplicates == 2


def test_end_is_exclusive_start_inclusive() -> None:
    edge = _rows([(1, 10, WEEK.start_seconds), (1, 11, WEEK.end_seconds)])
    out = sort_arrivals(edge, edge.clear().select(KEY), WEEK)
    assert out.rows["item_id"].to_list() == [10]
    assert (out.late, out.deferred) == (0, 1)
