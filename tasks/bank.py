"""Tasks that publish bank versions and find the serving (champion) version."""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import task

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
) -> int:
    """Write regions (+ decision table, + ``files``: name in the version -> source path) into
    a new immutable version, and move CURRENT to it when ``make_current`` (setup; a nightly
    candidate becomes current only through `tasks.champion`); ``record`` (setup's or the
    period's) goes under the manifest's "extra"."""
    with store.stage_bank_version(
        period=period,
        config_hash=config_hash,
        data_digest=data_digest,
        parent_version=store.current_version(),
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


def processed_periods(store: Store) -> list[str]:
    """Periods of every published version, champion or rejected (backfill skips these)."""
    return [store.read_manifest(v).period for v in store.versions()]


def bank_spec(store: Store, manifest: BankManifest) -> BankSpec:
    """The regions folder and adapter map of a published version (verified: `verify_bank`)."""
    verify_bank(store, manifest.version)
    return BankSpec(
        str(Path(store.bank_dir(manifest.version)) / REGIONS_DIR), dict(manifest.adapters)
    )
