"""The data error hierarchy: every rule a loader enforces has its own class under RaieDataError.

Each message is one sentence naming the file, the column, the first few 1-based file line
numbers and the rule broken (DESIGN §1 "Validation").
"""

from raie_core.errors import RaieConfigError, RaieDataError


class MissingFileError(RaieDataError):
    """A file the source needs does not exist."""


class EmptyInputError(RaieDataError):
    """A file has no data rows (empty, header only, or nothing left after filtering)."""


class EncodingError(RaieDataError):
    """Bytes that are not valid in the file's declared encoding."""


class MalformedLineError(RaieDataError):
    """A line cannot be split into the expected fields (wrong field count, broken JSON)."""


class DelimiterError(MalformedLineError):
    """The file is split by another delimiter than the source's."""


class MissingColumnError(RaieDataError):
    """A column the source needs is absent from the header."""


class MissingValueError(RaieDataError):
    """A required field is empty."""


class InvalidValueError(RaieDataError):
    """A field does not parse or lies outside its allowed range."""


class DuplicateRowError(RaieDataError):
    """Two rows share the same (user_id, item_id, timestamp)."""


class MappingError(RaieDataError, RaieConfigError):
    """A table column mapping names an unknown key or a column the file lacks."""


def format_rows(rows: list[int], total: int | None = None, limit: int = 5) -> str:
    """'row 3' / 'rows 3, 7, 9 (12 in all)' for the first `limit` 1-based line numbers."""
    total = len(rows) if total is None else total
    shown = ", ".join(str(r) for r in rows[:limit])
    label = "row" if total == 1 else "rows"
    suffix = f" ({total} in all)" if total > limit else ""
    return f"{label} {shown}{suffix}"
