"""The one `--json` shape of every `raie` command, defined here and nowhere else.

With ``--json`` a command prints exactly one JSON object on one line of stdout: a mapping
(never a top-level array, never one object per line), whose keys are snake_case field names
(``[a-z][a-z0-9_]*``). Lists of records go under a named key (``raie backfill``:
``{"dataset": ..., "periods": [...]}``). Nested mappings keyed by data rather than by field
name (metric names such as ``NDCG@10``, method names, region ids) keep their keys. Values
that JSON has no type for (dates, paths) are printed as strings. Progress and logs go to
stderr, so stdout holds the object alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
"""A snake_case key of a `--json` object."""


def json_line(obj: Mapping[str, Any]) -> str:
    """``obj`` as the one-line JSON object a `--json` command prints; a key that is not
    snake_case is a programming error (AssertionError naming it)."""
    assert isinstance(obj, Mapping), f"--json prints one object, not {type(obj).__name__}"
    bad = [key for key in obj if not FIELD_NAME.match(str(key))]
    assert not bad, f"--json keys should be snake_case: {bad}"
    return json.dumps(dict(obj), default=str)


def print_json(obj: Mapping[str, Any]) -> None:
    """Print ``obj`` as the command's one JSON object (`json_line`) and flush."""
    print(json_line(obj), flush=True)
