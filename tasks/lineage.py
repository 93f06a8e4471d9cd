"""Tasks that record runs, adapter versions and the champion bank in MLflow (via tasks.tracking)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.runtime import flow_run

from raie_core.sharing import SHARED_KEY
from tasks.adapters import AdapterInfo, kept_regions
from tasks.bank_model import log_bank_model
from tasks.provenance import code_version
from tasks.regions import EditSummary
from tasks.store import Store
from tasks.tracking import RunOutcome, Tracker

CONFIG_ARTIFACT = "config.json"
"""The run's resolved pipeline config (also flattened into its params)."""


def tracker(store: Store) -> Tracker:
    return Tracker(artifact_root=store.mlflow_artifacts_dir)


def experiment(store: Store) -> str:
    return f"raie-{store.dataset}"


def _flow_tags(kind: str, period: str) -> dict[str, Any]:
    flow_run_id = str(flow_run.id or "")
    return {
        "raie.kind": kind,
        "raie.period": period,
        "prefect.flow_run_id": flow_run_id,
        **code_version(),
    }


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
    t.log_dict(run_id, params, CONFIG_ARTIFACT)
    bank_version = t.register_bank(
        store.dataset,
        run_id,
        log_bank_model(t, store, run_id, version, params),
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
    previous: dict[int, str] | None = None,
    plots_dir: str | None = None,
) -> str:
    """A run for the period, a nested run per trained region (a registered version only when
    its bytes are new: an adapter that kept earlier weights is logged `action=kept`), the
    bank version (not the champion alias: `tasks.champion` moves that) and the gate."""
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
            **gate_metrics(gate),
            "regions.live": len(summary.live_ids),
            "regions.retrained": len(summary.affected),
            "regions.kept": kept_regions(trained),
        },
    )
    t.set_tags(run_id, {"gate.passed": gate.get("passed"), "gate.reason": gate.get("reason", "")})
    t.log_dict(run_id, params, CONFIG_ARTIFACT)
    model_path = log_bank_model(t, store, run_id, version, params)
    if plots_dir is not None:
        t.log_artifacts(run_id, plots_dir, "plots")
    lineage = {"period": period, "bank_version": version, "data_digest": data_digest}
    for info in trained:
        _track_region(
            t,
            store,
            run_id,
            summary,
            info,
            previous or {},
            lineage | {"base_model_digest": base_digest},
        )
    t.register_bank(
        store.dataset,
        run_id,
        model_path,
        {**lineage, "quality_gate": gate, "base_model_digest": base_digest},
    )
    t.end_run(run_id)
    return run_id


def gate_metrics(gate: dict) -> dict[str, float]:
    """The gate record's numbers as metrics: gate.passed and gate.<check>.<field>."""
    out = {"gate.passed": float(bool(gate.get("passed")))}
    for check, values in gate.items():
        if isinstance(values, dict):
            out |= {
                f"gate.{check}.{k}": float(v)
                for k, v in values.items()
                if isinstance(v, int | float)
            }
    return out


def adapter_action(
    t: Tracker, dataset: str, info: AdapterInfo, previous: dict[int, str], added: list[int]
) -> tuple[str, int | None, bool]:
    """(action, registered version already holding these bytes, register a new version?).

    "kept" when training left the adapter's starting weights (no epoch beat them on
    validation, the same folder as before, or bytes a version already holds): no new version,
    except the region's first, which is registered saying "kept" (its bytes are its start:
    zero-init or its parent's copy, see warm_start). Else "add" for a region new this period,
    "train" for a region's first trained adapter and "retrain". "rejected" for a region
    adapter that failed its promotion test (`SharingConfig.promote`): nothing was stored, the
    shared adapter serves the region, no version."""
    if not info.kept:
        return "rejected", None, False
    known = t.region_version_with_digest(dataset, info.region_id, info.digest)
    before = previous.get(info.region_id)
    first = not t.region_versions(dataset, info.region_id)
    if info.best_epoch == 0 or before == info.path or known is not None:
        return "kept", known, first and known is None
    if info.region_id in added:
        return "add", None, True
    return ("retrain" if before is not None else "train"), None, True


def _track_region(
    t: Tracker,
    store: Store,
    run_id: str,
    summary: EditSummary,
    info: AdapterInfo,
    previous: dict[int, str],
    lineage: dict[str, Any],
) -> None:
    period = lineage["period"]
    action, known, register = adapter_action(t, store.dataset, info, previous, summary.added)
    promotion = {f"promotion.{k}": v for k, v in (info.promotion or {}).items()}
    tags = {
        **promotion,
        **lineage,
        "action": action,
        "adapter_path": info.path,
        "adapter_digest": info.digest,
        "warm_start": info.warm_start,
        "source_region": info.source_region,
        "decisions": summary.counts,
        "n_new": info.n_new,
        "n_replay": info.n_replay,
    }
    child = t.start_run(
        experiment(store),
        f"region-{'shared' if info.region_id == SHARED_KEY else info.region_id}-{period}",
        {"warm_start": info.warm_start, "source_region": info.source_region},
        {**_flow_tags("region", period), "raie.action": action, "raie.kept_version": known},
        parent_run_id=run_id,
    )
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
    if register:
        t.log_artifacts(child, store.adapter_path(info.path), "adapter")
        t.register_region_adapter(store.dataset, info.region_id, child, "adapter", tags)
    t.end_run(child)
