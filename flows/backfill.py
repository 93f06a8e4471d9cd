"""The backfill flow: replay historical periods in order, each as a nightly_update subflow.

The periods are those with data after the setup cut: ingested snapshots and the rows waiting
in the landing zone (periods that have ended). Periods already published are skipped unless
``force`` (re-running is idempotent).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows import env
from flows.nightly_update import nightly_update
from flows.params import DEFAULT_DATASET, stored_config
from flows.progress import PROGRESS_LOGGER, TOTAL
from tasks.bank import require_setup
from tasks.store import Store
from tasks.windows import list_periods

progress = logging.getLogger(PROGRESS_LOGGER)


@flow(name="raie-backfill")
def backfill(
    start: date | None = None,
    end: date | None = None,
    dataset: str = DEFAULT_DATASET,
    home: str | None = None,
    force: bool = False,
    landing: str | None = None,
) -> list[dict]:
    """Run nightly_update for every period with data in [start, end] after the setup cut;
    ``landing``: the landing zone (default `<home>/landing/<dataset>/`)."""
    store = Store(env.configure_stores(home), dataset)
    setup = require_setup(store)
    config = stored_config(store)
    today = datetime.now(UTC).date()
    periods = list_periods(store, config.every, start, end, setup.until, landing, today)
    progress.info("%d periods", len(periods), extra={TOTAL: len(periods)})
    reports = [
        nightly_update(
            period=period.start, dataset=dataset, home=home, force=force, landing=landing
        )
        for period in periods
    ]
    done = [r for r in reports if not r.get("skipped")]
    if done:
        create_table_artifact(
            key="raie-backfill", table=done, description=f"backfill of {len(done)} periods"
        )
    return reports
