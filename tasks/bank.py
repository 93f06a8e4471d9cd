"""Tasks that publish bank versions and find the serving (champion) version."""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import task

from tasks.evaluate import BankSpec
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
) -> int:
    """Write regions (+ decision table) into a new immutable version and move CURRENT;
    ``record`` (setup's or the period's) goes under the manifest's "extra"."""
    with store.stage_bank_version(
        period=period, config_hash=config_hash, data_digest=data_digest
    ) as draft:
        copy_regions(regions_path, draft.dir / REGIONS_DIR)
        if decisions_path is not None:
            shutil.copyfile(decisions_path, draft.dir / DECISIONS_FILE)
        draft.adapters = dict(adapters)
        draft.decisions = dict(decisions)
        draft.metrics = dict(metrics)
        draft.quality_gate = dict(quality_gate)
        draft.extra = record.to_extra()
    assert draft.version is not None
    return draft.version


def champion(store: Store) -> BankManifest:
    """The newest published version whose quality gate passed (setup always passes)."""
    store.require_current()
    return [m for m in store.history() if m.quality_gate.get("passed")][-1]


def bank_spec(store: Store, manifest: BankManifest) -> BankSpec:
    """The regions folder and adapter map of a published version."""
    return BankSpec(
        str(Path(store.bank_dir(manifest.version)) / REGIONS_DIR), dict(manifest.adapters)
    )
