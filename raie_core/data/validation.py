"""Row-level validation shared by every loader: decoding, splitting lines, typed rules.

Raw input is a frame of String columns plus ``row`` (Int64, the 1-based line number in the file).
Each rule flags bad rows with a boolean expression. In strict mode the first rule with bad rows
raises its error class with one sentence naming file, column, rows and rule; in quarantine mode
the flagged rows move to the quarantine frame (file, row, column, reason) and loading goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from raie_core.data.errors import (
    DelimiterError,
    DuplicateRowError,
    EmptyInputError,
    EncodingError,
    InvalidValueError,
    MalformedLineError,
    MissingValueError,
    format_rows,
)
from raie_core.data.schema import QUARANTINE_SCHEMA, ValidationMode, empty_quarantine, id_column
from raie_core.errors import RaieDataError

log = logging.getLogger(__name__)

CANDIDATE_SEPARATORS = ("::", "\t", ",", ";", "|")
MAX_TIMESTAMP_S = 7_258_118_400
"""The latest plausible timestamp, 2200-01-01T00:00:00Z in UTC seconds: a larger value is
almost surely milliseconds (x1e3) or microseconds (x1e6) since the epoch, named as such."""
MAX_ID_CHARS = 256
"""The longest user or item id accepted (characters): ids are keys in memory, on disk and in
MLflow tags; a longer value is a broken file, not an id."""
SHOWN_VALUE_CHARS = 60
"""How much of a bad value an error message or quarantine reason quotes."""
DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d",
)


@dataclass(frozen=True)
class Rule:
    """One row rule: ``bad`` is True on rows that break it; ``text`` states the rule."""

    column: str
    bad: pl.Expr
    text: str
    error: type[RaieDataError]


def apply_rules(
    frame: pl.DataFrame, rules: Sequence[Rule], file: str, mode: ValidationMode
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply rules in order; return (good rows, quarantined rows). frame needs a ``row`` column."""
    quarantined = [empty_quarantine()]
    for rule in rules:
        flagged = frame.with_columns(rule.bad.fill_null(False).alias("_bad"))
        bad = flagged.filter(pl.col("_bad"))
        if bad.height == 0:
            continue
        if mode is ValidationMode.STRICT:
            raise rule.error(_message(bad, rule, file))
        reason = pl.lit(rule.text)
        if rule.column in bad.columns:
            value = (
                pl.col(rule.column).cast(pl.String).fill_null("").str.slice(0, SHOWN_VALUE_CHARS)
            )
            reason = pl.format("{} (value '{}')", reason, value)
        quarantined.append(
            bad.select(
                pl.lit(file).alias("file"),
                pl.col("row"),
                pl.lit(rule.column).alias("column"),
                reason.alias("reason"),
            )
        )
        frame = flagged.filter(~pl.col("_bad")).drop("_bad")
    return frame, pl.concat(quarantined).cast(QUARANTINE_SCHEMA)


def _message(bad: pl.DataFrame, rule: Rule, file: str) -> str:
    rows = bad.get_column("row").head(5).to_list()
    where = format_rows(rows, bad.height)
    value = ""
    if rule.column in bad.columns:
        shown = str(bad.get_column(rule.column)[0])
        if len(shown) > SHOWN_VALUE_CHARS:
            shown = f"{shown[:SHOWN_VALUE_CHARS]}... ({len(shown)} characters)"
        value = f" (first bad value {shown!r})"
    return f"{file}: column {rule.column!r} breaks the rule '{rule.text}' at {where}{value}"


def decode(data: bytes, file: str, encoding: str, mode: ValidationMode) -> tuple[str, pl.DataFrame]:
    """Decode a whole file; a bad line raises EncodingError (strict) or becomes blank + quarantined.

    Blanked lines keep the line numbering of the rest of the file intact.
    """
    if not data.strip():
        raise EmptyInputError(f"{file}: the file is empty (rule: at least one data row)")
    try:
        return data.decode(encoding), empty_quarantine()
    except UnicodeDecodeError as error:
        first_bad = data.count(b"\n", 0, error.start) + 1
        if mode is ValidationMode.STRICT:
            raise EncodingError(
                f"{file}: column 'line' breaks the rule 'text is valid {encoding}' at row "
                f"{first_bad} (byte {error.object[error.start : error.end]!r})"
            ) from None
    lines, bad_rows = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode(encoding))
        except UnicodeDecodeError:
            lines.append("")
            bad_rows.append(number)
    quarantined = pl.DataFrame(
        {
            "file": [file] * len(bad_rows),
            "row": bad_rows,
            "column": ["line"] * len(bad_rows),
            "reason": [f"text is valid {encoding}"] * len(bad_rows),
        },
        schema=QUARANTINE_SCHEMA,
    )
    return "\n".join(lines), quarantined


def lines_frame(text: str) -> pl.DataFrame:
    """Non-blank lines of ``text`` as (row Int64 1-based line number, line String)."""
    frame = (
        pl.Series("line", [text])
        .str.split("\n")
        .explode()
        .str.strip_suffix("\r")
        .to_frame()
        .with_row_index("row", offset=1)
        .cast({"row": pl.Int64})
    )
    return frame.filter(pl.col("line").str.strip_chars() != "")


def split_fields(
    lines: pl.DataFrame,
    separator: str,
    columns: Sequence[str],
    file: str,
    mode: ValidationMode,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split each line into ``columns`` (String); wrong field counts are MalformedLineError rows."""
    check_separator(lines, separator, len(columns), file)
    parts = lines.with_columns(pl.col("line").str.split(separator).alias("_fields"))
    names = ", ".join(columns)
    rule = Rule(
        column=names,
        bad=pl.col("_fields").list.len() != len(columns),
        text=f"a line has {len(columns)} fields separated by {separator!r}",
        error=MalformedLineError,
    )
    good, quarantined = apply_rules(parts, [rule], file, mode)
    fields = [
        pl.col("_fields").list.get(i).str.strip_chars().alias(c) for i, c in enumerate(columns)
    ]
    return good.select(pl.col("row"), *fields), quarantined


def check_separator(lines: pl.DataFrame, separator: str, n_fields: int, file: str) -> None:
    """Raise DelimiterError when the first line is clearly split by another separator."""
    if lines.height == 0 or n_fields < 2:
        return
    row, first = lines.row(0)
    if len(first.split(separator)) > 1:
        return
    for other in CANDIDATE_SEPARATORS:
        if other != separator and len(first.split(other)) >= n_fields:
            raise DelimiterError(
                f"{file}: column 'line' breaks the rule 'fields are separated by {separator!r}' "
                f"at row {row}, which is separated by {other!r}"
            )


def timestamp_seconds(values: pl.Series) -> pl.Series:
    """String seconds (integer or float, floored) or ISO datetimes -> Int64 UTC seconds, else null.

    Naive datetimes are read as UTC. Datetime formats are tried only when some value is not a
    number, so numeric columns (the common case) are parsed once.
    """
    frame = pl.DataFrame({"t": values.str.strip_chars()})
    numeric = pl.col("t").cast(pl.Float64, strict=False)
    as_int = frame.select(
        pl.when(numeric.is_finite()).then(numeric.floor().cast(pl.Int64, strict=False))
    ).to_series()
    if as_int.null_count() == values.null_count():
        return as_int.alias(values.name)
    parsed = [
        pl.col("t")
        .str.to_datetime(fmt, strict=False, time_zone="UTC", time_unit="us")
        .dt.epoch("s")
        for fmt in DATETIME_FORMATS
    ]
    return frame.select(pl.coalesce(pl.lit(as_int), *parsed)).to_series().alias(values.name)


def interaction_rules(
    rating_range: tuple[float, float] | None, rating_required: bool
) -> tuple[list[Rule], list[Rule]]:
    """(rules on the raw strings, rules on the typed values) for user/item/timestamp/rating."""
    raw = [_required(c) for c in ("user_id", "item_id", "timestamp")]
    raw.append(
        Rule(
            "timestamp",
            pl.col("_ts").is_null(),
            "timestamp is integer seconds or an ISO datetime",
            InvalidValueError,
        )
    )
    raw += [_id_length(c) for c in ("user_id", "item_id")]
    raw += [_id_printable(c) for c in ("user_id", "item_id")]
    typed = [
        Rule("timestamp", pl.col("_ts") < 0, "timestamp is >= 0 (UTC seconds)", InvalidValueError),
        Rule(
            "timestamp",
            pl.col("_ts") > MAX_TIMESTAMP_S,
            "timestamp is UTC seconds before 2200-01-01; larger values look like milliseconds "
            "or microseconds",
            InvalidValueError,
        ),
    ]
    if rating_range is None:
        return raw, typed
    if rating_required:
        raw.append(_required("rating"))
    present = pl.col("rating").str.strip_chars().fill_null("") != ""
    raw.append(
        Rule("rating", present & pl.col("_r").is_null(), "rating is a number", InvalidValueError)
    )
    low, high = rating_range
    out = pl.col("_r").is_nan() | (pl.col("_r") < low) | (pl.col("_r") > high)
    typed.append(Rule("rating", out, f"rating lies within [{low:g}, {high:g}]", InvalidValueError))
    return raw, typed


def _duplicate_rule() -> Rule:
    """Later repeats of a (user_id, item_id, timestamp) key are bad; the first one is kept."""
    key = pl.struct("user_id", "item_id", "timestamp")
    return Rule(
        "user_id, item_id, timestamp",
        ~key.is_first_distinct(),
        "(user_id, item_id, timestamp) is unique",
        DuplicateRowError,
    )


def _id_length(column: str) -> Rule:
    return Rule(
        column,
        pl.col(column).str.len_chars() > MAX_ID_CHARS,
        f"{column} is at most {MAX_ID_CHARS} characters",
        InvalidValueError,
    )


def _id_printable(column: str) -> Rule:
    return Rule(
        column,
        pl.col(column).str.contains(r"[\x00-\x1f\x7f]"),
        f"{column} holds no control characters (NUL, tab, newline)",
        InvalidValueError,
    )


def _required(column: str) -> Rule:
    missing = pl.col(column).is_null() | (pl.col(column).str.strip_chars() == "")
    return Rule(column, missing, f"{column} is not empty", MissingValueError)


def validate_interactions(
    raw: pl.DataFrame,
    file: str,
    mode: ValidationMode,
    rating_range: tuple[float, float] | None = (1.0, 5.0),
    rating_required: bool = True,
    check_duplicates: bool = True,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Raw String columns (row, user_id, item_id, timestamp[, rating]) -> typed interactions.

    Returns (interactions: user_id, item_id, timestamp Int64, rating Float64, row; quarantined).
    """
    if "rating" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias("rating"))
        rating_range = None
    raw = raw.with_columns(
        pl.col("rating").str.strip_chars().cast(pl.Float64, strict=False).alias("_r"),
        timestamp_seconds(raw.get_column("timestamp")).alias("_ts"),
    )
    raw_rules, typed_rules = interaction_rules(rating_range, rating_required)
    good, q1 = apply_rules(raw, raw_rules, file, mode)
    good, q2 = apply_rules(good, typed_rules, file, mode)
    good = good.select(
        pl.col("row"),
        pl.col("user_id"),
        pl.col("item_id"),
        pl.col("_ts").alias("timestamp"),
        pl.col("_r").alias("rating"),
    )
    quarantined = [q1, q2]
    if check_duplicates:
        good, q3 = apply_rules(good, [_duplicate_rule()], file, mode)
        quarantined.append(q3)
    if good.height == 0:
        raise EmptyInputError(f"{file}: no valid data rows remain (rule: at least one data row)")
    good = good.with_columns(id_column(good["user_id"]), id_column(good["item_id"]))
    return good, pl.concat(quarantined)
