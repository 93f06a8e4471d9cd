"""Terminal output shared by `raie backfill` and `raie demo`: the per-period table, a
progress bar with an ETA over backfill periods and one over the setup's training epochs."""

from __future__ import annotations

import logging
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


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[None]:
    """A rich progress bar with an ETA over backfill periods, fed by the `raie.progress`
    logger (nothing when not ``enabled``, e.g. with --json)."""
    with _bar(enabled, PROGRESS_LOGGER, "backfill", None):
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
