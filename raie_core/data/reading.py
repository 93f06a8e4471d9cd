"""Reading delimited text files into raw String frames, and building the item catalog.

The raw frame has ``row`` (Int64, 1-based line number in the file) and one String column per
field; validation.py turns it into typed interactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from raie_core.data.errors import (
    DuplicateRowError,
    EmptyInputError,
    MissingColumnError,
    MissingFileError,
    MissingValueError,
)
from raie_core.data.schema import (
    CATALOG_COLUMNS,
    CATALOG_SCHEMA,
    INTERACTION_COLUMNS,
    Dataset,
    ValidationMode,
    empty_quarantine,
)
from raie_core.data.validation import (
    Rule,
    apply_rules,
    check_separator,
    decode,
    lines_frame,
    split_fields,
)


def require_file(path: Path) -> Path:
    """Return ``path`` when it is a file; raise MissingFileError naming it otherwise."""
    if not path.is_file():
        raise MissingFileError(f"{path}: file not found (rule: the source needs this file)")
    return path


def read_delimited(
    path: Path,
    separator: str,
    mode: ValidationMode,
    *,
    encoding: str = "utf-8",
    columns: Sequence[str] | None = None,
    required: Sequence[str] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read a delimited text file into (raw String frame with ``row``, quarantined rows).

    columns=None: the first line is a header; RecBole ``name:type`` headers keep ``name``.
    required: header columns that must be present (MissingColumnError otherwise).
    """
    file = str(require_file(path))
    text, q_decode = decode(path.read_bytes(), file, encoding, mode)
    lines = lines_frame(text)
    if lines.height == 0:
        raise EmptyInputError(f"{file}: the file has no lines (rule: at least one data row)")
    if columns is None:
        columns = _header(lines, separator, required, file)
        lines = lines.slice(1)
        if lines.height == 0:
            raise EmptyInputError(
                f"{file}: only the header (row 1) is present (rule: at least one data row)"
            )
    frame, q_split = split_fields(lines, separator, columns, file, mode)
    return frame, pl.concat([q_decode, q_split])


def _header(lines: pl.DataFrame, separator: str, required: Sequence[str], file: str) -> list[str]:
    check_separator(lines, separator, max(len(required), 2), file)
    row, header = lines.row(0)
    names = [h.split(":")[0].strip().strip('"') for h in header.split(separator)]
    for column in required:
        if column not in names:
            raise MissingColumnError(
                f"{file}: column {column!r} is missing from the header at row {row} "
                f"(rule: the header names {', '.join(required)}; it has {', '.join(names)})"
            )
    return names


def genre_tokens(tokens: pl.Expr) -> pl.Expr:
    """Space-separated genre tokens (RecBole ``token_seq``, e.g. "Animation Children's") ->
    "|"-joined genres, the catalog's form; "unknown" and empty tokens are dropped."""
    return (
        tokens.str.split(" ")
        .list.eval(pl.element().filter((pl.element() != "unknown") & (pl.element() != "")))
        .list.join("|")
    )


def validate_catalog(
    raw: pl.DataFrame, file: str, mode: ValidationMode
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Raw (row, item_id, title, genres, year as String or null) -> catalog, quarantined.

    Empty genres become null; a year that is not an integer becomes null (metadata, not data).
    """
    rules = [
        Rule(
            "item_id",
            pl.col("item_id").is_null() | (pl.col("item_id") == ""),
            "item_id is not empty",
            MissingValueError,
        ),
        Rule(
            "item_id",
            ~pl.col("item_id").is_first_distinct(),
            "item_id is unique in the catalog",
            DuplicateRowError,
        ),
    ]
    good, quarantined = apply_rules(raw, rules, file, mode)
    genres = pl.col("genres").cast(pl.String)
    items = good.select(
        pl.col("item_id"),
        pl.col("title").cast(pl.String),
        pl.when(genres.str.strip_chars() != "").then(genres).alias("genres"),
        pl.col("year").cast(pl.String).str.strip_chars().str.to_integer(strict=False),
    )
    return items, quarantined


def make_dataset(
    name: str,
    interactions: pl.DataFrame,
    items: pl.DataFrame | None,
    quarantined: Sequence[pl.DataFrame],
    sources: Sequence[Path],
) -> Dataset:
    """Assemble a Dataset: align item id dtypes, add catalog rows for items the catalog lacks.

    interactions: row, user_id, item_id, timestamp, rating (the ``row`` column is dropped);
    the result is sorted by (timestamp, user_id, item_id).
    """
    interactions = interactions.select(INTERACTION_COLUMNS)
    if items is None:
        items = pl.DataFrame(schema={"item_id": interactions.schema["item_id"], **CATALOG_SCHEMA})
    if interactions.schema["item_id"] != items.schema["item_id"]:
        ids = items["item_id"].cast(pl.String)
        as_int = ids.str.to_integer(strict=False)
        if interactions.schema["item_id"] == pl.Int64 and as_int.null_count() == 0:
            items = items.with_columns(as_int.alias("item_id"))
        else:
            items = items.with_columns(ids.alias("item_id"))
            interactions = interactions.with_columns(pl.col("item_id").cast(pl.String))
    used = interactions.select(pl.col("item_id").unique().sort())
    missing = used.join(items.select("item_id"), on="item_id", how="anti")
    missing = missing.with_columns(
        pl.lit(None, dtype=pl.String).alias("title"),
        pl.lit(None, dtype=pl.String).alias("genres"),
        pl.lit(None, dtype=pl.Int64).alias("year"),
    )
    items = pl.concat([items.select(CATALOG_COLUMNS), missing.select(CATALOG_COLUMNS)])
    return Dataset(
        name=name,
        interactions=interactions.sort("timestamp", "user_id", "item_id"),
        items=items.cast(CATALOG_SCHEMA),
        quarantined=pl.concat([empty_quarantine(), *quarantined]),
        sources=tuple(str(p) for p in sources),
    )
