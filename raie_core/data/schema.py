"""Schemas of the data layer: interactions, item catalog, quarantine, and the Dataset value.

Interactions: user_id, item_id (Int64 when every id is an integer, else String), timestamp Int64
(UTC seconds), rating Float64 (nullable). Catalog: item_id, title String, genres String
("|"-joined, nullable), year Int64 (nullable). docs/interfaces.md fixes these names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from raie_core.data.errors import InvalidValueError, MissingColumnError
from raie_core.errors import RaieConfigError

INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "rating")
CATALOG_COLUMNS = ("item_id", "title", "genres", "year")
CATALOG_SCHEMA = {"title": pl.String, "genres": pl.String, "year": pl.Int64}
QUARANTINE_SCHEMA = {"file": pl.String, "row": pl.Int64, "column": pl.String, "reason": pl.String}
ID_DTYPES = (pl.Int64, pl.String)


E = TypeVar("E", bound=enum.Enum)


def parse_enum(kind: type[E], value: E | str, field: str) -> E:
    """The member of ``kind`` given as itself or its string value; RaieConfigError names
    ``field`` and the allowed values otherwise."""
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise RaieConfigError(f"{field}={value!r} should be one of {allowed}") from None


class ValidationMode(enum.Enum):
    """What a loader does with a bad row: fail the load, or set the row aside with its reason."""

    STRICT = "strict"
    QUARANTINE = "quarantine"

    @classmethod
    def parse(cls, value: ValidationMode | str) -> ValidationMode:
        """Accept the enum or its string value; raise RaieConfigError naming the bad value."""
        return parse_enum(cls, value, "mode")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset.

    interactions: user_id, item_id, timestamp Int64, rating Float64 (one row per event)
    items: item_id, title, genres, year (one row per catalog item)
    quarantined: file, row, column, reason (bad rows set aside; empty in strict mode)
    sources: the files read, in reading order
    """

    name: str
    interactions: pl.DataFrame
    items: pl.DataFrame
    quarantined: pl.DataFrame
    sources: tuple[str, ...] = ()


def empty_quarantine() -> pl.DataFrame:
    """A quarantine frame with no rows."""
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def id_column(values: pl.Series) -> pl.Series:
    """Ids as Int64 when every value is an integer literal, else as String (kept as given)."""
    text = values.cast(pl.String)
    as_int = text.str.to_integer(strict=False)
    if as_int.null_count() == text.null_count():
        return as_int.alias(values.name)
    return text


def check_interactions(frame: pl.DataFrame, file: str = "interactions") -> pl.DataFrame:
    """Check an interactions frame against the schema; return it with the columns in order.

    Raises MissingColumnError / InvalidValueError naming the file and column.
    """
    for column in ("user_id", "item_id", "timestamp"):
        if column not in frame.columns:
            raise MissingColumnError(f"{file}: column {column!r} is missing")
    if "rating" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("rating"))
    expected = {"timestamp": (pl.Int64,), "rating": (pl.Float64,), "user_id": ID_DTYPES}
    expected["item_id"] = ID_DTYPES
    for column, dtypes in expected.items():
        if frame.schema[column] not in dtypes:
            allowed = " or ".join(str(d) for d in dtypes)
            raise InvalidValueError(
                f"{file}: column {column!r} has dtype {frame.schema[column]}, expected {allowed}"
            )
    extra = [c for c in frame.columns if c not in INTERACTION_COLUMNS]
    return frame.select([*INTERACTION_COLUMNS, *extra])
