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
from flows.runlog import Stages, name_run
from tasks.bank import require_setup
from tasks.cache import CacheConfig
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
    cache: CacheConfig = CacheConfig(),  # noqa: B008 - frozen, immutable
) -> list[dict]:
    """Run nightly_update for every period with data in [start, end] after the setup cut;
    ``landing``: the landing zone (default `<home>/landing/<dataset>/`); ``cache``: each
    update's windows and embeddings cache (tasks/cache.py)."""
    store = Store(env.configure_stores(home), dataset)
    setup = require_setup(store)
    config = stored_config(store)
    today = datetime.now(UTC).date()
    periods = list_periods(store, config.every, start, end, setup.until, landing, today)
    span = f"{periods[0].label}-{periods[-1].label}" if periods else "nothing"
    name_run(f"backfill-{dataset}-{span}")
    progress.info("%d periods", len(periods), extra={TOTAL: len(periods)})
    stages = Stages()
    reports = []
    for period in periods:
        report = nightly_update(
            period=period.start,
            dataset=dataset,
            home=home,
            force=force,
            landing=landing,
            cache=cache,
        )
        if report.get("skipped"):  # a run's own record advances the bar; a skip has none
            progress.info("period %s already published", period.label)
        reports.append(report)
    done = [r for r in reports if not r.get("skipped")]
    rejected = sum(r.get("gate") == "fail" for r in done)
    stages.done(
        "periods",
        "%d of %d run (%d skipped as published), %d rejected by the gate",
        *(len(done), len(reports), len(reports) - len(done), rejected),
    )
    if done:
        create_table_artifact(
            key="raie-backfill", table=done, description=f"backfill of {len(done)} periods"
        )
    return reports
