"""Terminal output shared by `raie setup`, `raie backfill`, `raie bench quality` and
`raie demo`: the per-period table, a progress bar with a total and an ETA over backfill
periods (or bench runs) and one over the setup's training epochs.

Convention: bars go to stderr, and only to a terminal: with --json, or when stderr is not a
TTY (a log file, a pipe, pytest), there is no bar (`progress_enabled`), so stdout holds just
the result and logs hold no bar frames. The same records reach the Prefect run's logs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

PERIOD_COLUMNS = (
    ("period", "period", "{}"),
    ("windows", "windows", "{}"),
    ("update", "UPDATE", "{}"),
    ("expand", "EXPAND", "{}"),
    ("add", "ADD", "{}"),
    ("live", "live", "{}"),
    ("retrained", "retrained", "{}"),
    ("ndcg10_champion", "NDCG@10 champ", "{:.4f}"),
    ("ndcg10_base", "NDCG@10 base", "{:.4f}"),
    ("retention_ndcg10", "retention", "{:.4f}"),
    ("gate", "gate", "{}"),
    ("champion", "champion", "v{}"),
)
"""(report key, column title, format) of each column of `period_table`."""

PROGRESS_LOGGER = "raie.progress"
TRAINING_LOGGER = "raie_core.training"
"""`raie_core.training.fit` logs one DEBUG record per epoch here."""
TOTAL = "raie_total"
"""A progress record's extra field that sets the bar's total (the backfill's period count)."""


def period_table(reports: list[dict]) -> str:
    """The per-period table printed by `raie backfill` and `raie demo`."""
    rows = [r for r in reports if not r.get("skipped")]
    skipped = len(reports) - len(rows)
    header = " ".join(f"{title:>13}" for _, title, _ in PERIOD_COLUMNS)
    lines = [header] if rows else []
    for report in rows:
        cells = []
        for key, _, fmt in PERIOD_COLUMNS:
            value = report.get(key, 0 if key in ("update", "expand", "add") else "-")
            cells.append(f"{fmt.format(value) if value != '-' else '-':>13}")
        lines.append(" ".join(cells))
    if skipped:
        lines.append(f"{skipped} period(s) already published: skipped (use --force to re-run)")
    return "\n".join(lines)


def progress_enabled(json: bool = False) -> bool:
    """Whether a command shows bars: not with --json, and only when stderr is a terminal."""
    return not json and sys.stderr.isatty()


@contextmanager
def progress_bar(enabled: bool = True, title: str = "backfill") -> Iterator[None]:
    """A rich progress bar with an ETA, fed by the `raie.progress` logger: one step per
    record, the total from a record's `raie_total` extra (nothing when not ``enabled``)."""
    with _bar(enabled, PROGRESS_LOGGER, title, None):
        yield


@contextmanager
def training_bar(max_epochs: int, enabled: bool = True) -> Iterator[None]:
    """A bar over the setup's training epochs (fed by `raie_core.training`'s per-epoch
    records); early stopping usually ends it before ``max_epochs``, so its ETA is a bound."""
    with _bar(enabled, TRAINING_LOGGER, "setup training (ETA: at most)", max_epochs):
        yield


@contextmanager
def _bar(enabled: bool, logger_name: str, title: str, total: int | None) -> Iterator[None]:
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    bar.start()
    handler = _ProgressHandler(bar, bar.add_task(title, total=total), title)
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        bar.stop()


class _ProgressHandler(logging.Handler):
    """Advances the bar by one per record and shows the message; a record with a
    `raie_total` extra sets the total instead."""

    def __init__(self, bar, task, title: str) -> None:  # noqa: ANN001
        super().__init__()
        self.bar, self.task, self.title = bar, task, title

    def emit(self, record: logging.LogRecord) -> None:
        total = getattr(record, TOTAL, None)
        if total is not None:
            self.bar.update(self.task, total=total, description=self.title)
            return
        self.bar.update(self.task, advance=1, description=f"{self.title}: {record.getMessage()}")
