"""Tasks that record runs, adapter versions and the champion bank in MLflow (via tasks.tracking)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.runtime import flow_run

from raie_core.sharing import SHARED_KEY
from tasks.adapters import AdapterInfo
from tasks.regions import EditSummary
from tasks.store import Store
from tasks.tracking import RunOutcome, Tracker


def tracker(store: Store) -> Tracker:
    return Tracker(artifact_root=store.mlflow_artifacts_dir)


def experiment(store: Store) -> str:
    return f"raie-{store.dataset}"


def _flow_tags(kind: str, period: str) -> dict[str, Any]:
    return {"raie.kind": kind, "raie.period": period, "prefect.flow_run_id": str(flow_run.id or "")}


@task(name="track-setup")
def track_setup(
    store: Store,
    params: dict,
    base_digest: str,
    version: int,
    metrics: dict[str, float],
    period: str,
) -> str:
    """One run for the setup: params, base metrics, the bank artifact; bank v1 is champion."""
    t = tracker(store)
    run_id = t.start_run(experiment(store), f"setup-{period}", params, _flow_tags("setup", period))
    t.log_metrics(run_id, metrics)
    t.log_artifacts(run_id, store.bank_dir(version), "bank")
    bank_version = t.register_bank(
        store.dataset,
        run_id,
        "bank",
        {"bank_version": version, "period": period, "base_model_digest": base_digest},
    )
    t.set_champion(store.dataset, bank_version)
    t.end_run(run_id, RunOutcome.FINISHED)
    return run_id


@task(name="track-period")
def track_period(
    store: Store,
    params: dict,
    period: str,
    summary: EditSummary,
    trained: list[AdapterInfo],
    version: int,
    metrics: dict[str, float],
    gate: dict,
    base_digest: str,
    data_digest: str,
) -> str:
    """A run for the period, a nested run + registered version per trained region, the bank."""
    t = tracker(store)
    run_id = t.start_run(
        experiment(store), f"update-{period}", params, _flow_tags("update", period)
    )
    t.log_metrics(
        run_id,
        {
            **metrics,
            **{f"decisions.{k}": v for k, v in summary.counts.items()},
            **{f"drift.{k}": v for k, v in summary.drift.items()},
            "regions.live": len(summary.live_ids),
            "regions.retrained": len(summary.affected),
            "regions.kept": sum(1 for info in trained if info.kept and info.region_id >= 0),
        },
    )
    t.log_artifacts(run_id, store.bank_dir(version), "bank")
    for info in trained:
        _track_adapter(t, store, run_id, period, summary, info, version, data_digest, base_digest)
    bank_version = t.register_bank(
        store.dataset,
        run_id,
        "bank",
        {
            "bank_version": version,
            "period": period,
            "quality_gate": gate,
            "data_digest": data_digest,
            "base_model_digest": base_digest,
        },
    )
    if gate.get("passed"):
        t.set_champion(store.dataset, bank_version)
    t.end_run(run_id)
    return run_id


def _track_adapter(
    t: Tracker,
    store: Store,
    run_id: str,
    period: str,
    summary: EditSummary,
    info: AdapterInfo,
    version: int,
    data_digest: str,
    base_digest: str,
) -> None:
    """A nested run per trained adapter (the shared one too); a registered version only for
    an adapter that serves. A region adapter that failed promotion is a run tagged
    raie.promoted=false with the test's numbers, and no version: the shared one serves it."""
    label = "shared" if info.region_id == SHARED_KEY else str(info.region_id)
    child = t.start_run(
        experiment(store),
        f"region-{label}-{period}",
        {"warm_start": info.warm_start, "source_region": info.source_region},
        {**_flow_tags("region", period), "raie.promoted": str(info.kept).lower()},
        parent_run_id=run_id,
    )
    promotion = {f"promotion.{k}": v for k, v in (info.promotion or {}).items()}
    t.log_metrics(
        child,
        {
            "train_loss": info.train_loss,
            "val_loss": info.val_loss,
            "epochs": info.epochs,
            "best_epoch": info.best_epoch,
            "n_new": info.n_new,
            "n_replay": info.n_replay,
            **promotion,
        },
    )
    if info.path is not None:
        t.log_artifacts(child, store.adapter_path(info.path), "adapter")
        t.register_region_adapter(
            store.dataset,
            info.region_id,
            child,
            "adapter",
            {
                "period": period,
                "bank_version": version,
                "adapter_path": info.path,
                "adapter_digest": info.digest,
                "data_digest": data_digest,
                "base_model_digest": base_digest,
                "action": "add" if info.region_id in summary.added else "retrain",
                "warm_start": info.warm_start,
                "source_region": info.source_region,
                "decisions": summary.counts,
                "n_new": info.n_new,
                "n_replay": info.n_replay,
                **promotion,
            },
        )
    t.end_run(child)
