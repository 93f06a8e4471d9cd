"""Controlled drift (raie_core.data.drift): a hand-worked toy case, properties, every error path."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from raie_core.data import Dataset, DriftConfig, inject_drift
from raie_core.data.schema import empty_quarantine
from raie_core.errors import RaieConfigError, RaieDataError

DAY = 86_400
ONSET = date(1970, 1, 11)  # day 10
CATALOG = [
    (1, "Shining", "Horror"),
    (2, "Scream", "Comedy|Horror"),
    (3, "Alien", "Horror|Sci-Fi"),
    (4, "Big", "Comedy"),
    (5, "Heat", "Drama"),
    (6, "Fargo", "Drama"),
    (7, "Unrated horror", "Horror"),
    (8, "No genres", None),
]
ROWS = [  # user, item, day, rating
    (1, 4, 1, 5.0),
    (1, 5, 2, 4.0),
    (1, 6, 12, 5.0),
    (1, 1, 13, 4.0),
    (1, 2, 14, 2.0),  # a negative after the onset: kept
    (2, 4, 3, 3.0),
    (2, 5, 11, 5.0),
    (2, 6, 12, 4.0),
    (3, 1, 2, 5.0),
    (3, 2, 15, 4.0),
    (4, 5, 1, 4.0),  # active only before the onset
    (5, 4, 11, 1.0),  # only a negative after the onset
    (6, 6, 11, 5.0),
    (6, 3, 12, 4.0),
]


def _dataset(rows: list[tuple] = ROWS, catalog: list[tuple] = CATALOG) -> Dataset:
    """Interactions (user, item, day, rating) and a catalog (item, title, genres); id dtypes
    are Int64 or String as the ids are."""
    ids = pl.String if isinstance(rows[0][0], str) else pl.Int64
    interactions = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": [r[2] * DAY for r in rows],
            "rating": [r[3] for r in rows],
        },
        schema={"user_id": ids, "item_id": ids, "timestamp": pl.Int64, "rating": pl.Float64},
    )
    items = pl.DataFrame(
        {
            "item_id": [c[0] for c in catalog],
            "title": [c[1] for c in catalog],
            "genres": [c[2] for c in catalog],
            "year": [None] * len(catalog),
        },
        schema={"item_id": ids, "title": pl.String, "genres": pl.String, "year": pl.Int64},
    )
    return Dataset("toy", interactions, items, empty_quarantine())


def _config(**overrides: object) -> DriftConfig:
    return DriftConfig(**{"genre": "Horror", "share": 1.0, "onset": ONSET, "seed": 0, **overrides})


def _moved(before: Dataset, cohort: tuple, threshold: float = 4.0) -> pl.Series:
    frame = before.interactions
    return (
        frame["user_id"].is_in(list(cohort))
        & (frame["timestamp"] >= 10 * DAY)
        & (frame["rating"] >= threshold)
    )


def test_hand_worked_toy_case() -> None:
    drift = inject_drift(_dataset(), _config())
    # active after day 10: users 1, 2, 3, 6 (4 only before, 5 only a negative)
    assert drift.cohort == (1, 2, 3, 6)
    s = drift.summary
    assert (s.active_users, s.cohort_users, s.moved) == (4, 4, 7)
    assert (s.genre_films, s.drawable_films) == (4, 3)  # film 7 is never rated: never drawn
    new = drift.dataset.interactions
    # user 3 rated 1 and 2, so only 3 is left; user 1 rated 1 and 2 too and has two positives
    # after the onset: film 3 twice (at different seconds), one reuse
    assert new.filter(pl.col("user_id") == 3)["item_id"].to_list() == [1, 3]
    assert new.filter(pl.col("user_id") == 1)["item_id"].to_list() == [4, 5, 3, 3, 2]
    assert sorted(new.filter(pl.col("user_id") == 6)["item_id"].to_list()) == [1, 2]
    assert s.reused == 1
    assert s.onset == "1970-01-11T00:00:00Z"


def test_nothing_else_is_touched() -> None:
    before = _dataset()
    drift = inject_drift(before, _config(share=0.5, seed=3))
    moved = _moved(before, drift.cohort)
    after = drift.dataset.interactions
    assert after.filter(~moved).equals(before.interactions.filter(~moved))  # row for row, in place
    assert after.drop("item_id").equals(before.interactions.drop("item_id"))  # timestamps kept
    assert (after["item_id"] != before.interactions["item_id"]).sum() == moved.sum()
    assert drift.dataset.items.equals(before.items)


def test_moved_items_have_the_genre_and_were_never_rated_and_keys_stay_unique() -> None:
    before = _dataset()
    for seed in range(5):
        drift = inject_drift(before, _config(share=0.5, seed=seed))
        moved = _moved(before, drift.cohort)
        new = drift.dataset.interactions.filter(moved)
        horror = {1, 2, 3}
        for user, item in new.select("user_id", "item_id").iter_rows():
            rated = before.interactions.filter(pl.col("user_id") == user)["item_id"].to_list()
            assert item in horror and item not in rated
        keys = drift.dataset.interactions.select("user_id", "item_id", "timestamp")
        assert not keys.is_duplicated().any()


def test_seeded_repeatability_and_cohort_size() -> None:
    before = _dataset()
    first = inject_drift(before, _config(share=0.5, seed=7))
    again = inject_drift(before, _config(share=0.5, seed=7))
    assert first.cohort == again.cohort and len(first.cohort) == 2  # round(0.5 x 4)
    assert first.dataset.interactions.equals(again.dataset.interactions)
    assert first.summary == again.summary
    cohorts = {inject_drift(before, _config(share=0.5, seed=s)).cohort for s in range(10)}
    assert len(cohorts) > 1 and all(set(c) <= {1, 2, 3, 6} for c in cohorts)
    assert len(inject_drift(before, _config(share=0.01)).cohort) == 1  # at least one user


def test_implicit_data_and_string_ids() -> None:
    rows = [("a", "x", 1, None), ("a", "y", 12, None), ("b", "z", 11, None)]
    catalog = [("x", "X", "Horror"), ("y", "Y", "Drama"), ("z", "Z", "Horror")]
    before = _dataset(rows, catalog)
    drift = inject_drift(before, _config())
    # every row is a positive: a's film y becomes z, b's z becomes x (the only unseen ones)
    assert drift.dataset.interactions["item_id"].to_list() == ["x", "z", "x"]
    assert drift.cohort == ("a", "b")


def test_config_errors_name_the_value() -> None:
    for share in (0, 0.0, -0.1, 1.5):
        with pytest.raises(RaieConfigError, match=rf"share={share!r} should be in \(0, 1\]"):
            _config(share=share)
    with pytest.raises(RaieConfigError, match="seed=-1"):
        _config(seed=-1)
    with pytest.raises(RaieConfigError, match="genre=''"):
        _config(genre="")
    with pytest.raises(RaieConfigError, match="onset='1997-12-20'"):
        _config(onset="1997-12-20")
    aware = _config(onset=datetime(1970, 1, 11, 1, tzinfo=UTC))
    assert (
        aware.onset_seconds
        == 10 * DAY + 3600
        == _config(onset=datetime(1970, 1, 11, 1)).onset_seconds
    )


def test_data_errors_name_the_value() -> None:
    with pytest.raises(
        RaieConfigError,
        match=r"genre='Horrr' is not a genre of the toy catalog \(Comedy, Drama, Horror, Sci-Fi\)",
    ):
        inject_drift(_dataset(), _config(genre="Horrr"))
    for onset in (date(1970, 1, 2), date(1970, 1, 30)):  # at the first day, after the last
        with pytest.raises(
            RaieConfigError, match=f"onset={onset.isoformat()}T00:00:00Z lies outside the data"
        ):
            inject_drift(_dataset(), _config(onset=onset))
    everything = [(9, 1, 1, 5.0), (9, 2, 2, 5.0), (9, 3, 3, 5.0), (9, 4, 12, 5.0)]
    with pytest.raises(RaieDataError, match="user_id=9 has rated every drawable film"):
        inject_drift(_dataset(everything), _config())
    ties = [(6, 3, 1, 5.0), (9, 1, 11, 5.0), (9, 2, 11, 5.0)]  # film 3 left, two positives at once
    with pytest.raises(RaieDataError, match="user_id=9 has 2 positives in one second"):
        inject_drift(_dataset(ties), _config(onset=date(1970, 1, 10)))
