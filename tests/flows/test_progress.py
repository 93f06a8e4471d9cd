"""flows.progress: the per-period table and the progress bars' feed (a real rich Progress)."""

import logging

from rich.progress import Progress

from flows.progress import TOTAL, TRAINING_LOGGER, _ProgressHandler, period_table, training_bar


def test_handler_sets_the_total_then_advances_per_record() -> None:
    bar = Progress(disable=True)
    task = bar.add_task("backfill", total=None)
    handler = _ProgressHandler(bar, task, "backfill")
    logger = logging.getLogger("raie.test-progress")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("19 periods", extra={TOTAL: 19})
        logger.info("period 1997-12-15 done")
        logger.info("period 1997-12-22 done")
    finally:
        logger.removeHandler(handler)
    state = bar.tasks[0]
    assert (state.total, state.completed) == (19, 2)
    assert state.description == "backfill: period 1997-12-22 done"


def test_training_bar_listens_to_debug_epochs_and_restores_the_level() -> None:
    logger = logging.getLogger(TRAINING_LOGGER)
    before = logger.level
    with training_bar(7):
        assert logger.isEnabledFor(logging.DEBUG)
        assert any(isinstance(h, _ProgressHandler) for h in logger.handlers)
    assert logger.level == before
    assert not any(isinstance(h, _ProgressHandler) for h in logger.handlers)


def test_period_table_shows_gate_and_champion() -> None:
    table = period_table(
        [
            {"period": "1997-12-15", "windows": 10, "gate": "pass", "champion": 2},
            {"period": "1997-12-22", "skipped": True},
        ]
    )
    header, row, note = table.splitlines()
    assert header.split()[-2:] == ["gate", "champion"]
    assert row.split()[-2:] == ["pass", "v2"]
    assert note.startswith("1 period(s) already published")
