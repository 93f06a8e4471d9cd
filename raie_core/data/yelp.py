"""The Yelp Open Dataset: ``review.json`` + ``business.json`` (JSON lines).

Kept: reviews with stars >= ``min_stars``, one per (user, business) (the latest), then the
``core``-core filter iterated to a fixed point. Catalog: business ``name`` as title,
``categories`` as genres. DESIGN §1 "Sources".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from raie_core.data.errors import (
    EmptyInputError,
    InvalidValueError,
    MalformedLineError,
    MissingFileError,
)
from raie_core.data.reading import make_dataset, require_file, validate_catalog
from raie_core.data.schema import Dataset, ValidationMode
from raie_core.data.validation import Rule, apply_rules, decode, lines_frame, validate_interactions
from raie_core.errors import RaieConfigError

REVIEW_FILES = ("review.json", "yelp_academic_dataset_review.json")
BUSINESS_FILES = ("business.json", "yelp_academic_dataset_business.json")
REVIEW_FIELDS = {
    "user_id": pl.String,
    "business_id": pl.String,
    "stars": pl.Float64,
    "date": pl.String,
}
BUSINESS_FIELDS = {"business_id": pl.String, "name": pl.String, "categories": pl.String}
STARS_RANGE = (1.0, 5.0)


@dataclass(frozen=True)
class YelpRules:
    """Filters of the Yelp loader.

    min_stars: a review is kept (a positive) when stars >= min_stars (default 4.0).
    core: every kept user and business has at least ``core`` reviews (default 10, iterated).
    """

    min_stars: float = 4.0
    core: int = 10

    def __post_init__(self) -> None:
        if not 1.0 <= self.min_stars <= 5.0:
            raise RaieConfigError(f"min_stars={self.min_stars} should be within [1, 5]")
        if self.core < 1:
            raise RaieConfigError(f"core={self.core} should be >= 1")


def k_core(interactions: pl.DataFrame, k: int) -> pl.DataFrame:
    """Drop users and items with fewer than ``k`` rows until none is left to drop (fixed point)."""
    if k < 1:
        raise RaieConfigError(f"k={k} should be >= 1")
    frame = interactions
    while True:
        kept = frame.filter((pl.len().over("user_id") >= k) & (pl.len().over("item_id") >= k))
        if kept.height == frame.height:
            return kept
        frame = kept


def read_json_lines(
    path: Path, fields: dict[str, pl.DataType], mode: ValidationMode
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """JSON lines -> (row + one String column per field, quarantined); broken lines are flagged.

    Fast path: polars decodes every line at once; only when that fails are lines parsed one by
    one to find the broken ones (MalformedLineError in strict mode, quarantined otherwise).
    """
    file = str(require_file(path))
    text, q_decode = decode(path.read_bytes(), file, "utf-8", mode)
    lines = lines_frame(text)
    try:
        return _decode_fields(lines, fields), q_decode
    except pl.exceptions.ComputeError:
        broken, values = _parse_lines(lines, fields)
    rules = [
        Rule("line", pl.col("row").is_in(broken), "a line is one JSON object", MalformedLineError)
    ]
    rules += [
        Rule(name, pl.col(name).is_not_null(), f"{name} is a JSON number", InvalidValueError)
        for name in values
    ]
    lines = lines.with_columns(pl.Series(name, v, dtype=pl.String) for name, v in values.items())
    lines, q_json = apply_rules(lines, rules, file, mode)
    return _decode_fields(lines.select("row", "line"), fields), pl.concat([q_decode, q_json])


def _decode_fields(lines: pl.DataFrame, fields: dict[str, pl.DataType]) -> pl.DataFrame:
    decoded = lines.select(
        pl.col("row"), pl.col("line").str.json_decode(dtype=pl.Struct(fields)).alias("_j")
    )
    return decoded.unnest("_j").with_columns(pl.col(list(fields)).cast(pl.String))


def _parse_lines(
    lines: pl.DataFrame, fields: dict[str, pl.DataType]
) -> tuple[list[int], dict[str, list[str | None]]]:
    """The slow path: (rows that are not one JSON object, {numeric field: per line, the value
    as JSON text where it is present but not a number, else None})."""
    numeric = [name for name, dtype in fields.items() if dtype.is_numeric()]
    broken: list[int] = []
    values: dict[str, list[str | None]] = {name: [] for name in numeric}
    for row, line in lines.iter_rows():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            broken.append(row)
            value = {}
        for name in numeric:
            given = value.get(name)
            number = isinstance(given, int | float) and not isinstance(given, bool)
            values[name].append(None if given is None or number else json.dumps(given))
    return broken, {name: v for name, v in values.items() if any(x is not None for x in v)}


def _find(root: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        if (root / name).is_file():
            return root / name
    raise MissingFileError(f"{root / names[0]}: file not found (rule: a Yelp folder has it)")


def load_yelp(root: Path, mode: ValidationMode, rules: YelpRules = YelpRules()) -> Dataset:
    """Load a Yelp folder: positives (stars >= min_stars), latest per (user, business), k-core."""
    review = _find(root, REVIEW_FILES)
    raw, q_read = read_json_lines(review, REVIEW_FIELDS, mode)
    raw = raw.rename({"business_id": "item_id", "stars": "rating", "date": "timestamp"})
    interactions, q_valid = validate_interactions(
        raw, str(review), mode, rating_range=STARS_RANGE, check_duplicates=False
    )
    interactions = (
        interactions.filter(pl.col("rating") >= rules.min_stars)
        .sort("timestamp", "row")
        .unique(["user_id", "item_id"], keep="last", maintain_order=True)
    )
    interactions = k_core(interactions, rules.core)
    if interactions.height == 0:
        raise EmptyInputError(
            f"{review}: no review survives the filters (rule: stars >= {rules.min_stars:g} "
            f"and a {rules.core}-core of users and businesses)"
        )
    business = root / BUSINESS_FILES[0]
    business = business if business.is_file() else root / BUSINESS_FILES[1]
    items, q_items, sources = None, [], [review]
    if business.is_file():
        raw_items, q_bread = read_json_lines(business, BUSINESS_FIELDS, mode)
        raw_items = raw_items.select(
            pl.col("row"),
            pl.col("business_id").alias("item_id"),
            pl.col("name").alias("title"),
            pl.col("categories")
            .str.split(",")
            .list.eval(pl.element().str.strip_chars())
            .list.join("|")
            .alias("genres"),
            pl.lit(None, dtype=pl.String).alias("year"),
        )
        used = interactions.get_column("item_id").cast(pl.String).unique()
        raw_items = raw_items.filter(pl.col("item_id").is_in(used.implode()))
        items, q_cat = validate_catalog(raw_items, str(business), mode)
        q_items, sources = [q_bread, q_cat], [review, business]
    return make_dataset("yelp", interactions, items, [q_read, q_valid, *q_items], sources)
