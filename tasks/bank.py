"""Tasks that publish bank versions and find the serving (champion) version."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from prefect import task

from raie_core.data import Period
from raie_core.errors import RaieConfigError
from tasks.evaluate import BankSpec
from tasks.integrity import verify_bank
from tasks.records import PeriodRecord, SetupRecord
from tasks.regions import REGIONS_DIR, copy_regions
from tasks.store import BankManifest, Store

DECISIONS_FILE = "decisions.parquet"


@task(name="publish-bank-version")
def publish_bank_version(
    store: Store,
    *,
    period: str,
    config_hash: str,
    data_digest: str,
    regions_path: str,
    adapters: dict[int, str],
    decisions: dict[str, int],
    metrics: dict[str, float],
    quality_gate: dict,
    record: SetupRecord | PeriodRecord,
    decisions_path: str | None = None,
    files: dict[str, str] | None = None,
    make_current: bool = True,
    parent_version: int | None = None,
) -> int:
    """Write regions (+ decision table, + ``files``: name in the version -> source path) into
    a new immutable version, and move CURRENT to it when ``make_current`` (setup; a nightly
    candidate becomes current only through `tasks.champion`); ``record`` (setup's or the
    period's) goes under the manifest's "extra"; ``parent_version``: the version the edit
    started from (default: the current one)."""
    with store.stage_bank_version(
        period=period,
        config_hash=config_hash,
        data_digest=data_digest,
        parent_version=store.current_version() if parent_version is None else parent_version,
        make_current=make_current,
    ) as draft:
        copy_regions(regions_path, draft.dir / REGIONS_DIR)
        if decisions_path is not None:
            shutil.copyfile(decisions_path, draft.dir / DECISIONS_FILE)
        for name, source in (files or {}).items():
            shutil.copyfile(source, draft.dir / name)
        draft.adapters = dict(adapters)
        draft.decisions = dict(decisions)
        draft.metrics = dict(metrics)
        draft.quality_gate = dict(quality_gate)
        draft.extra = record.to_extra(store.root)
    assert draft.version is not None
    return draft.version


def champion(store: Store) -> BankManifest:
    """The serving version: the one CURRENT points at (moved by setup, a passed gate,
    `raie promote` and `raie rollback`, always with the MLflow alias), checked against its
    recorded digests (`verify_bank`): nothing is served or edited from a corrupted bank."""
    return verify_bank(store, store.require_current())


def newest(store: Store) -> BankManifest:
    """The newest published version (the last candidate, promoted or not)."""
    store.require_current()
    return store.read_manifest(store.versions()[-1])


def period_version(store: Store, label: str) -> int | None:
    """The newest published version of period ``label`` (None: the period is not done)."""
    found = [v for v in store.versions() if store.read_manifest(v).period == label]
    return found[-1] if found else None


def version_before(store: Store, period: Period) -> BankManifest:
    """The newest version of the champion's chain whose period precedes ``period`` (setup's
    always does): where a ``--force`` re-run of ``period`` edits from."""
    chain = store.history()
    earlier = [m for m in chain[1:] if date.fromisoformat(m.period) < period.start]
    return earlier[-1] if earlier else chain[0]


def require_setup(store: Store) -> SetupRecord:
    """The setup record, or one sentence: setup never ran, or did not finish
    (`Store.require_current`)."""
    store.require_current()
    return SetupRecord.read(store, store.history()[0])


def update_period(
    store: Store, setup: SetupRecord, every: str, start: date | None, today: date
) -> Period:
    """The period an update of ``start`` processes (None: the last complete one), checked:
    on a boundary of the home's cadence (``every``), not before the setup cut, ended by
    ``today``."""
    if start is None:
        return Period.last_complete(today, every)
    period = Period(start, every)
    if period.start < setup.until:
        raise RaieConfigError(
            f"period={period.label} is before the setup cut {setup.until} of {store.dataset}: "
            f"the base was trained on it; updates start at {setup.until}"
        )
    if period.end > today:
        raise RaieConfigError(
            f"period={period.label} has not ended yet (it ends {period.end}, today is {today})"
        )
    return period


def bank_spec(store: Store, manifest: BankManifest) -> BankSpec:
    """The regions folder and adapter map of a published version (verified: `verify_bank`)."""
    verify_bank(store, manifest.version)
    return BankSpec(
        str(Path(store.bank_dir(manifest.version)) / REGIONS_DIR), dict(manifest.adapters)
    )
