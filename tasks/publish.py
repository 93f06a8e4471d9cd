"""Publishing that completes: a bank version is done only when its MLflow records are.

A published version carries its tracking plan (`tasks.plan`). Completing it tracks the plan
in MLflow (idempotent: `tasks.lineage`), moves the champion when the plan says so (a passed
gate) and writes the version's completion marker ``<state>/tracked/vNNNN``. Every command
that edits the bank or moves the champion first completes the versions a crash left
unfinished (`finish_pending`), oldest first, so MLflow never trails the bank: no RUNNING run,
no unregistered version, the alias on the served version. Versions published before plans
existed have no plan and are complete as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from prefect import task

from raie_core.errors import RaieStateError
from tasks.champion import champion_moves, move_champion
from tasks.durable import write_text_atomic
from tasks.faults import fault_point
from tasks.gate import weekly_plot
from tasks.lineage import track_period, track_setup
from tasks.manifest import version_name
from tasks.plan import PLAN_FILE, PlanKind, TrackingPlan
from tasks.records import SetupRecord
from tasks.retry import retry_io_only
from tasks.store import Store

log = logging.getLogger(__name__)

TRACKED_DIR = "tracked"
TRACKING_RETRIES = 3
"""Retries of a version's tracking after a failure (MLflow store or artifact I/O): tracking is
idempotent, so each retry resumes where the failed attempt stopped."""
TRACKING_RETRY_DELAY_S = 2.0
"""Seconds between those retries."""


def plan_path(store: Store, version: int) -> Path:
    return store.bank_dir(version) / PLAN_FILE


def _marker(store: Store, version: int) -> Path:
    return store.root / TRACKED_DIR / version_name(version)


def is_complete(store: Store, version: int) -> bool:
    """Whether ``version`` needs no more tracking (completed, or published without a plan)."""
    return _marker(store, version).is_file() or not plan_path(store, version).is_file()


def pending_versions(store: Store) -> list[int]:
    """Published versions whose tracking a crash left unfinished, oldest first."""
    return [v for v in store.versions() if not is_complete(store, v)]


def pending_publications(store: Store) -> list[dict[str, int | str]]:
    """`raie status`'s view of `pending_versions`: each one's version, period and the flow
    that published it (``kind``: setup or update, `PlanKind`)."""
    pending = []
    for version in pending_versions(store):
        plan = TrackingPlan.read(plan_path(store, version))
        pending.append({"version": version, "period": plan.period, "kind": plan.kind.value})
    return pending


def finish_publication(store: Store, version: int) -> None:
    """Track ``version``'s plan in MLflow, move the champion if it says so, mark it complete
    (caller holds the lock). Idempotent: a re-run after any crash finishes the rest."""
    plan = TrackingPlan.read(plan_path(store, version))
    if plan.kind is PlanKind.SETUP:
        track_setup(store, version, plan)
    else:
        track_period(store, version, plan, plots_dir=_plots(store, plan))
        fault_point("tracked")
        if plan.promote and not _moved_by_gate(store, version):
            move_champion(store, version, "gate", plan.why, who="raie nightly-update")
    marker = _marker(store, version)
    marker.parent.mkdir(exist_ok=True)
    write_text_atomic(marker, f"{version_name(version)} tracked\n")


finish_publication_task = task(
    finish_publication,
    name="finish-publication",
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAY_S,
    retry_condition_fn=retry_io_only,
)
"""`finish_publication` as a Prefect task with retries (the flows' step)."""


def finish_pending(
    store: Store, finish: Callable[[Store, int], None] = finish_publication
) -> list[int]:
    """Complete every version a crash left unfinished (caller holds the lock); their numbers.

    finish: `finish_publication` (commands outside a flow) or `finish_publication_task`."""
    pending = pending_versions(store)
    for version in pending:
        log.warning("completing the tracking of %s, interrupted earlier", version_name(version))
        finish(store, version)
    return pending


def resume_setup(store: Store, finish: Callable[[Store, int], None]) -> list[int] | None:
    """Make an interrupted setup restartable (caller holds the lock).

    Nothing published: the leftovers (base, snapshots, work) are removed and None is returned,
    setup starts over. Bank v1 renamed but CURRENT not moved: v1 is adopted. Bank published:
    its tracking is completed; the versions completed are returned ([] = setup was done)."""
    versions = store.versions()
    if store.current_version() is None:
        if not versions:
            store.discard_unpublished()
            return None
        if versions != [1] or TrackingPlan.read(plan_path(store, 1)).kind is not PlanKind.SETUP:
            raise RaieStateError(
                f"{store.root} holds bank versions {versions} but no CURRENT pointer; "
                "setup cannot resume there; use a new --home"
            )
        store.set_current(1)
    return finish_pending(store, finish)


def _moved_by_gate(store: Store, version: int) -> bool:
    return any(m.version == version and m.action == "gate" for m in champion_moves(store))


def _plots(store: Store, plan: TrackingPlan) -> str | None:
    if plan.work_key is None:
        return None
    setup = SetupRecord.read(store, store.history()[0])
    return weekly_plot(store, setup.retention_reference, plan.work_key)
