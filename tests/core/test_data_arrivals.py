"""sort_arrivals: the landing zone's rules (duplicates, late, deferred) on a hand-worked week."""

from datetime import UTC, date, datetime

import polars as pl

from raie_core.data import Period
from raie_core.data.arrivals import KEY, Closed, sort_arrivals

WEEK = Period(date(1998, 3, 2), "1w")  # Monday 1998-03-02 .. Sunday 03-08
# weeks before 02-09 are before the setup cut; 02-23 is published; 02-09 and 02-16 are open
CLOSED = Closed(cut=date(1998, 2, 9), published=frozenset({date(1998, 2, 23)}))


def _ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def _rows(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    users, items, stamps = zip(*rows, strict=True)
    return pl.DataFrame(
        {"user_id": users, "item_id": items, "timestamp": stamps, "rating": [4.0] * len(rows)}
    )


def test_hand_worked_week() -> None:
    on_time, published = (1, 10, _ts(1998, 3, 3)), (2, 11, _ts(1998, 2, 27))
    before_cut, still_open = (5, 14, _ts(1998, 2, 5)), (6, 15, _ts(1998, 2, 18))
    seen_row, later = (3, 12, _ts(1998, 3, 4)), (4, 13, _ts(1998, 3, 9))
    rows = [on_time, published, seen_row, later, on_time, before_cut, still_open]
    out = sort_arrivals(_rows(rows), _rows([seen_row]).select(KEY), WEEK, CLOSED)
    assert out.rows.select(KEY).rows() == [on_time, published, before_cut]
    # late: the published week's row and the one before the cut; deferred: the later week's
    # row and the open week's (each waits for its own period's ingest)
    assert (out.late, out.duplicates, out.deferred) == (2, 2, 2)
    assert out.rows.columns == ["user_id", "item_id", "timestamp", "rating"]


def test_the_same_rows_twice_add_nothing() -> None:
    arrived = _rows([(1, 10, _ts(1998, 3, 3)), (1, 11, _ts(1998, 3, 8, 23))])
    first = sort_arrivals(arrived, arrived.clear().select(KEY), WEEK, CLOSED)
    assert first.rows.height == 2 and first.duplicates == 0
    again = sort_arrivals(arrived, first.rows.select(KEY), WEEK, CLOSED)
    assert again.rows.height == 0 and again.duplicates == 2


def test_start_is_inclusive_end_exclusive() -> None:
    edge = _rows([(1, 10, WEEK.start_seconds), (1, 11, WEEK.end_seconds)])
    out = sort_arrivals(edge, edge.clear().select(KEY), WEEK, CLOSED)
    assert out.rows["item_id"].to_list() == [10]
    assert (out.late, out.deferred) == (0, 1)
