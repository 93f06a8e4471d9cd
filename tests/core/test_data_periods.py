"""assign_periods (period start dates; weeks start Monday) and describe on hand-worked data."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from raie_core.data import Dataset, Every, MissingColumnError, assign_periods, describe
from raie_core.data.schema import empty_quarantine
from raie_core.errors import RaieConfigError


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
