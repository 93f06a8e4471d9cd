"""Any CSV / TSV / Parquet table with a column mapping (``--map user=uid,item=sku,...``).

Timestamps may be integer seconds or ISO datetimes (naive ones are read as UTC). CSV fields are
split on the separator (quoted separators are not supported); surrounding quotes are stripped.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from raie_core.data.errors import EmptyInputError, MalformedLineError, MappingError
from raie_core.data.reading import make_dataset, read_delimited, require_file, validate_catalog
from raie_core.data.schema import INTERACTION_COLUMNS, Dataset, ValidationMode, empty_quarantine
from raie_core.data.validation import validate_interactions

MAPPING_KEYS = {
    "user": "user_id",
    "item": "item_id",
    "timestamp": "timestamp",
    "rating": "rating",
    "title": "title",
    "genres": "genres",
}
REQUIRED_KEYS = ("user", "item", "timestamp")
TABLE_RATING_RANGE = (0.0, 5.0)
TAB_SUFFIXES = (".tsv", ".tab")


def resolve_mapping(mapping: dict[str, str] | None, file: str = "table") -> dict[str, str]:
    """Canonical key -> file column; defaults to the schema's own names. Unknown keys raise."""
    given = dict(mapping or {})
    unknown = sorted(set(given) - set(MAPPING_KEYS))
    if unknown:
        raise MappingError(
            f"{file}: column mapping key {unknown[0]!r} (for column {given[unknown[0]]!r}) is unknown "
            f"at row 1 (rule: keys are {', '.join(MAPPING_KEYS)})"
        )
    return {key: given.get(key, default) for key, default in MAPPING_KEYS.items()}


def read_raw_table(path: Path, mode: ValidationMode) -> tuple[pl.DataFrame, pl.DataFrame]:
    """CSV/TSV (header line) or Parquet -> (row + String columns, quarantined)."""
    require_file(path)
    if path.suffix.lower() != ".parquet":
        separator = "\t" if path.suffix.lower() in TAB_SUFFIXES else ","
        raw, quarantined = read_delimited(path, separator, mode)
        return raw.with_columns(pl.exclude("row").str.strip_chars('"')), quarantined
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise MalformedLineError(
            f"{path}: column 'file' breaks the rule 'a readable Parquet file' at row 1 ({error})"
        ) from None
    if frame.height == 0:
        raise EmptyInputError(f"{path}: the table has no rows (rule: at least one data row)")
    temporal = [c for c, t in frame.schema.items() if t.is_temporal() and t != pl.Duration]
    frame = frame.with_columns(pl.col(temporal).dt.epoch("s")).cast(pl.String)
    return frame.with_row_index("row", offset=1).cast({"row": pl.Int64}), empty_quarantine()


def load_table(
    path: Path,
    mode: ValidationMode,
    mapping: dict[str, str] | None = None,
    rating_range: tuple[float, float] = TABLE_RATING_RANGE,
) -> Dataset:
    """Load a table; ``mapping`` maps user/item/timestamp[/rating/title/genres] to its columns."""
    columns = resolve_mapping(mapping, str(path))
    raw, q_read = read_raw_table(path, mode)
    explicit = set(mapping or {})
    for key, column in columns.items():
        needed = key in REQUIRED_KEYS or key in explicit
        if needed and column not in raw.columns:
            header = ", ".join(c for c in raw.columns if c != "row")
            raise MappingError(
                f"{path}: column {column!r} (mapped from {key!r}) is missing from the header at "
                f"row 1 (rule: mapped columns exist; the file has {header})"
            )
    present = {k: c for k, c in columns.items() if c in raw.columns}
    picked = [pl.col(c).alias(MAPPING_KEYS[k]) for k, c in present.items() if k in MAPPING_KEYS]
    raw = raw.select(pl.col("row"), *picked)
    fields = ["row", "user_id", "item_id", "timestamp"] + (
        ["rating"] if "rating" in present else []
    )
    interactions, q_valid = validate_interactions(
        raw.select(fields), str(path), mode, rating_range=rating_range, rating_required=False
    )
    items = _catalog(raw, interactions, present, path, mode)
    return make_dataset("table", interactions, items, [q_read, q_valid], [path])


def _catalog(
    raw: pl.DataFrame,
    interactions: pl.DataFrame,
    present: dict[str, str],
    path: Path,
    mode: ValidationMode,
) -> pl.DataFrame | None:
    """The first title/genres seen per item among the valid rows, or None when none is mapped."""
    if "title" not in present and "genres" not in present:
        return None
    absent = pl.lit(None, dtype=pl.String)
    kept = raw.join(interactions.select("row"), on="row", how="semi")
    raw_items = kept.select(
        pl.col("row"),
        pl.col("item_id"),
        pl.col("title") if "title" in present else absent.alias("title"),
        pl.col("genres") if "genres" in present else absent.alias("genres"),
        absent.alias("year"),
    ).unique("item_id", keep="first", maintain_order=True)
    items, _ = validate_catalog(raw_items, str(path), mode)
    return items


def as_table(dataset: Dataset) -> pl.DataFrame:
    """The interactions with each item's catalog title and genres: user_id, item_id,
    timestamp, rating, title, genres, in the interactions' order. These are the column names
    `load_table` reads without a mapping, so a written table loads back (as ``table``) with the
    same interactions and, for every interacted item, the same title and genres."""
    catalog = dataset.items.select("item_id", "title", "genres")
    return dataset.interactions.select(INTERACTION_COLUMNS).join(
        catalog, on="item_id", how="left", maintain_order="left"
    )
