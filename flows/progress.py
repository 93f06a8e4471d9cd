"""Terminal output shared by `raie backfill` and `raie demo`: the per-period table and a
progress bar over backfill periods."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

PERIOD_COLUMNS = (
    ("period", "period", "{}"),
    ("windows", "windows", "{}"),
    ("UPDATE", "update", "{}"),
    ("EXPAND", "expand", "{}"),
    ("ADD", "add", "{}"),
    ("live", "live", "{}"),
    ("retrained", "retrained", "{}"),
    ("ndcg10_champion", "NDCG@10 champ", "{:.4f}"),
    ("ndcg10_base", "NDCG@10 base", "{:.4f}"),
    ("retention_ndcg10", "retention", "{:.4f}"),
    ("gate", "gate", "{}"),
)
"""(report key, column title, format) of each column of `period_table`."""

PROGRESS_LOGGER = "raie.progress"


def period_table(reports: list[dict]) -> str:
    """The per-period table printed by `raie backfill` and `raie demo`."""
    rows = [r for r in reports if not r.get("skipped")]
    skipped = len(reports) - len(rows)
    header = " ".join(f"{title:>13}" for _, title, _ in PERIOD_COLUMNS)
    lines = [header] if rows else []
    for report in rows:
        cells = []
        for key, _, fmt in PERIOD_COLUMNS:
            value = report.get(key, 0 if key in ("UPDATE", "EXPAND", "ADD") else "-")
            cells.append(f"{fmt.format(value) if value != '-' else '-':>13}")
        lines.append(" ".join(cells))
    if skipped:
        lines.append(f"{skipped} period(s) already published: skipped (use --force to re-run)")
    return "\n".join(lines)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[None]:
    """A rich progress bar over backfill periods, fed by the `raie.progress` logger (nothing
    when not ``enabled``, e.g. with --json)."""
    if not enabled:
        yield
        return
    from rich.progress import Progress

    bar = Progress(transient=True)
    bar.start()
    handler = _ProgressHandler(bar, bar.add_task("backfill", total=None))
    logger = logging.getLogger(PROGRESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        bar.stop()


class _ProgressHandler(logging.Handler):
    """Advances the bar by one and shows the message, per record."""

    def __init__(self, bar, task) -> None:  # noqa: ANN001
        super().__init__()
        self.bar, self.task = bar, task

    def emit(self, record: logging.LogRecord) -> None:
        self.bar.update(self.task, advance=1, description=record.getMessage())
