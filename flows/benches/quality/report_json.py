"""report.json of `raie bench quality`: the --json payload's tables plus the command and the
options of the run, everything the text of report.md and `raie bench docs` need, as plain JSON;
and its reader, which names the file and the field a report lacks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from flows.benches.quality.report_md import command
from raie_core.errors import RaieDataError

PAYLOAD_FIELDS = (
    "config_hash",
    "config",
    "rows",
    "paired",
    "bars",
    "regions",
    "cohort",
    "windows",
)
"""Result fields of the --json payload (besides the report path and the MLflow run id)."""
RUN_FIELDS = ("headline", "backbone_s", "backbones_cached", "runs_reused")
"""Further result fields that report.md's text shows (headline field, backbone timing, runs
reused from <home>/bench/runs; the last is optional in `read_report`: older reports lack it)."""
OPTION_FIELDS = ("preset", "backbone", "dataset", "seeds", "validate")
"""Options of the run (argparse names) that the text shows."""
REPORT_FIELDS: dict[str, tuple[type, ...]] = {
    "config_hash": (str,),
    "config": (dict,),
    "rows": (list,),
    "paired": (list,),
    "bars": (list,),
    "regions": (list,),
    "cohort": (dict, type(None)),
    "windows": (dict,),
    "command": (str,),
    "headline": (str,),
    "backbone_s": (dict, type(None)),
    "backbones_cached": (int,),
    "preset": (str,),
    "backbone": (str,),
    "dataset": (str,),
    "seeds": (int,),
    "validate": (bool,),
}
"""Every field of report.json and the JSON types it may hold (what `read_report` checks)."""


def report_record(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The report of a run as plain JSON values: {"command": `command(args)`, the
    ``PAYLOAD_FIELDS`` and ``RUN_FIELDS`` of ``result`` (`runner.run_bench` plus "bars"), the
    ``OPTION_FIELDS`` of ``args``}; numpy scalars and arrays become numbers and lists, so the
    record equals what report.json reads back."""
    record = {
        "command": command(args),
        **{key: result[key] for key in (*PAYLOAD_FIELDS, *RUN_FIELDS)},
        **{key: getattr(args, key) for key in OPTION_FIELDS},
    }
    return _plain(record)


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars / arrays and tuples turned into JSON's numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_report_json(record: dict[str, Any], out: Path) -> Path:
    """``out``/report.json holding ``record`` (key order kept: it orders the tables)."""
    path = out / "report.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def report_json_path(path: str | Path) -> Path:
    """The report.json of a report folder, or ``path`` itself when it is not a folder."""
    path = Path(path)
    return path / "report.json" if path.is_dir() else path


def read_report(path: str | Path) -> dict[str, Any]:
    """The report a `raie bench quality` run left in ``path`` (its folder or its report.json).

    Raises RaieDataError with one sentence naming the file when it cannot be read, is not a
    JSON object, or lacks a field of ``REPORT_FIELDS`` (a report.json written before the tables
    went into it holds only the config) or holds it with another type.
    """
    file = report_json_path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise RaieDataError(f"report file {file} cannot be read ({reason})") from None
    except json.JSONDecodeError as error:
        raise RaieDataError(f"report file {file} is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise RaieDataError(f"report file {file} should hold an object, not {_kind(data)}")
    for field, kinds in REPORT_FIELDS.items():
        if field not in data:
            raise RaieDataError(
                f"report file {file} has no field {field!r} (rerun its `raie bench quality`: "
                "older versions wrote only the config)"
            )
        value = data[field]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join(_kind_name(k) for k in kinds)
            raise RaieDataError(
                f"report file {file} field {field!r} should be {expected}, not {_kind(value)}"
            )
    return data


def _kind(value: Any) -> str:
    return _kind_name(type(value))


def _kind_name(kind: type) -> str:
    """JSON's name of a Python type of a parsed value."""
    names = {dict: "an object", list: "an array", str: "a string", int: "an integer"}
    names |= {bool: "a boolean", float: "a number", type(None): "null"}
    return names[kind]
