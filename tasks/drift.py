"""Drift tasks: write a drifted copy of a dataset (`raie data drift`), read a cohort file back.

Layout written by ``write_drift`` (DESIGN §1 "Controlled drift")::

    DIR/interactions.parquet   user_id, item_id, timestamp, rating, title, genres: load it with
                               ``--dataset table --path DIR/interactions.parquet``
    DIR/cohort.txt             the cohort's user ids, one a line (``raie bench quality --cohort``)
    DIR/drift.json             the source, the settings and what was done (`DriftSummary`)

Every file is written atomically (temp file, fsync, rename), so a re-run over DIR is idempotent.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from pathlib import Path

from raie_core.data import load_dataset
from raie_core.data.drift import DriftConfig, inject_drift
from raie_core.data.errors import EmptyInputError
from raie_core.data.table import as_table
from raie_core.errors import RaieDataError
from tasks.durable import write_json_atomic, write_text_atomic
from tasks.ingest import write_parquet_atomic

log = logging.getLogger(__name__)

TABLE_FILE = "interactions.parquet"
COHORT_FILE = "cohort.txt"
SUMMARY_FILE = "drift.json"


def write_drift(
    dataset: str,
    out: str | Path,
    *,
    genre: str,
    share: float,
    onset: datetime.date | datetime.datetime,
    seed: int = 0,
    path: str | Path | None = None,
    mode: str = "strict",
    mapping: dict[str, str] | None = None,
) -> dict:
    """Load ``dataset``, inject the drift (`raie_core.data.drift`) and write it under ``out``.

    Returns the JSON-ready record also written to drift.json: the `DriftSummary` fields plus
    ``dataset``, ``source_path``, ``table``, ``cohort_file``.
    """
    config = DriftConfig(genre=genre, share=share, onset=onset, seed=seed)
    loaded = load_dataset(dataset, path, mode=mode, mapping=mapping)
    drift = inject_drift(loaded, config)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    table = write_parquet_atomic(as_table(drift.dataset), root / TABLE_FILE)
    cohort = root / COHORT_FILE
    write_text_atomic(cohort, "".join(f"{user}\n" for user in drift.cohort))
    record = {
        **dataclasses.asdict(drift.summary),
        "dataset": dataset,
        "source_path": None if path is None else str(path),
        "table": str(table),
        "cohort_file": str(cohort),
    }
    write_json_atomic(root / SUMMARY_FILE, record)
    log.info("wrote the drifted %s to %s", dataset, root)
    return record


def read_cohort(path: str | Path) -> frozenset[str]:
    """The user ids of a cohort file (one a line, blank lines skipped), as strings.

    Raises RaieDataError with one sentence when the file cannot be read or holds no id.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise RaieDataError(f"cohort file {file} cannot be read ({reason})") from None
    users = frozenset(line.strip() for line in text.splitlines() if line.strip())
    if not users:
        raise EmptyInputError(f"cohort file {file} holds no user id (rule: one user id a line)")
    return users
