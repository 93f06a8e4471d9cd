"""Tasks that record runs, adapter versions and the champion bank in MLflow (via tasks.tracking)."""

from __future__ import annotations

from typing import Any

from prefect.runtime import flow_run

from raie_core.recent import RECENT
from raie_core.sharing import SHARED_KEY
from tasks.adapters import AdapterInfo, kept_regions
from tasks.bank_model import log_bank_model, log_region_model
from tasks.faults import fault_point
from tasks.plan import TrackingPlan
from tasks.provenance import code_version
from tasks.registry_names import region_model_name
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


def _resumed_run(
    t: Tracker,
    store: Store,
    key: dict[str, Any],
    name: str,
    params: dict,
    tags: dict[str, Any],
    parent_run_id: str | None = None,
) -> tuple[str, bool]:
    """(run id, created): the run carrying the ``key`` tags (an interrupted publication made
    it: its params are logged again, the same values), else a new one."""
    found = t.find_run(experiment(store), key)
    if found is None:
        tags = tags | key
        return t.start_run(experiment(store), name, params, tags, parent_run_id), True
    t.log_params(found, params)
    return found, False


def track_setup(store: Store, version: int, plan: TrackingPlan) -> str:
    """One run for the setup: params, base metrics, the bank artifact; bank ``version`` is
    registered and made champion. Idempotent: a re-run finishes what a crash left."""
    t = tracker(store)
    key = {"raie.kind": "setup", "raie.bank_version": version}
    tags = _flow_tags("setup", plan.period)
    run_id, _ = _resumed_run(t, store, key, f"setup-{plan.period}", plan.params, tags)
    if not t.has_metrics(run_id):
        t.log_metrics(run_id, plan.metrics)
    t.log_dict(run_id, plan.params, CONFIG_ARTIFACT)
    registered = t.bank_model_version(store.dataset, version)
    if registered is None:
        lineage = {"bank_version": version, "period": plan.period}
        registered = t.register_bank(
            store.dataset,
            run_id,
            log_bank_model(t, store, run_id, version, plan.params),
            lineage | {"base_model_digest": plan.base_digest},
        )
    t.set_champion(store.dataset, registered)
    t.end_run(run_id, RunOutcome.FINISHED)
    return run_id


def track_period(
    store: Store, version: int, plan: TrackingPlan, plots_dir: str | None = None
) -> str:
    """A run for the period, a nested run per trained region (a registered version only when
    its bytes are new: an adapter that kept earlier weights is logged `action=kept`), the
    bank version (not the champion alias: `tasks.champion` moves that) and the gate.

    Idempotent: runs are found by their `raie.bank_version` (and region) tags, versions by
    the run they came from, so a re-run after a crash anywhere completes the records
    without a second run or version."""
    t = tracker(store)
    key = {"raie.kind": "update", "raie.bank_version": version}
    tags = _flow_tags("update", plan.period) | {"raie.replaces": plan.replaces}
    name = f"update-{plan.period}"
    run_id, _ = _resumed_run(t, store, key, name, plan.params, tags)
    if not t.has_metrics(run_id):
        t.log_metrics(run_id, _period_metrics(plan))
    gate = plan.gate
    t.set_tags(run_id, {"gate.passed": gate.get("passed"), "gate.reason": gate.get("reason", "")})
    t.log_dict(run_id, plan.params, CONFIG_ARTIFACT)
    if plots_dir is not None:
        t.log_artifacts(run_id, plots_dir, "plots")
    lineage = {"period": plan.period, "bank_version": version, "data_digest": plan.data_digest}
    for info in plan.trained:
        _track_region(
            t, store, run_id, plan, info, lineage | {"base_model_digest": plan.base_digest}
        )
        fault_point("tracking")
    if t.bank_model_version(store.dataset, version) is None:
        t.register_bank(
            store.dataset,
            run_id,
            log_bank_model(t, store, run_id, version, plan.params),
            {
                **lineage,
                "quality_gate": gate,
                "base_model_digest": plan.base_digest,
                "replaces": plan.replaces,
            },
        )
    t.end_run(run_id)
    return run_id


def _period_metrics(plan: TrackingPlan) -> dict[str, float]:
    return {
        **plan.metrics,
        **{f"decisions.{k}": v for k, v in plan.counts.items()},
        **{f"drift.{k}": v for k, v in plan.drift.items()},
        **gate_metrics(plan.gate),
        "regions.live": plan.live,
        "regions.retrained": plan.retrained,
        "regions.kept": kept_regions(list(plan.trained)),
    }


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
    "train" for a region's first trained adapter and "retrain"; "recent" for a region that
    adopted the period's recent adapter (`raie_core.recent`). "rejected" for a region
    adapter that failed its promotion test (`SharingConfig.promote`): nothing was stored, the
    shared adapter serves the region, no version."""
    if not info.kept:
        return "rejected", None, False
    known = t.region_version_with_digest(dataset, info.region_id, info.digest)
    before = previous.get(info.region_id)
    first = not t.region_versions(dataset, info.region_id)
    if info.best_epoch == 0 or before == info.path or known is not None:
        return "kept", known, first and known is None
    if info.warm_start == RECENT:
        return "recent", None, True
    if info.region_id in added:
        return "add", None, True
    return ("retrain" if before is not None else "train"), None, True


def _track_region(
    t: Tracker,
    store: Store,
    run_id: str,
    plan: TrackingPlan,
    info: AdapterInfo,
    lineage: dict[str, Any],
) -> None:
    period = lineage["period"]
    token = "shared" if info.region_id == SHARED_KEY else str(info.region_id)
    key = {
        "raie.kind": "region",
        "raie.bank_version": lineage["bank_version"],
        "raie.region": token,
    }
    found = t.find_run(experiment(store), key)
    if found is None:
        action, known, register = adapter_action(
            t, store.dataset, info, plan.previous, list(plan.added)
        )
    else:  # decided by the interrupted run: the registry has changed since
        tags = t.run_tags(found)
        action, register = tags["raie.action"], tags["raie.register"] == "True"
        known = None if tags["raie.kept_version"] == "none" else int(tags["raie.kept_version"])
    promotion = {f"promotion.{k}": v for k, v in (info.promotion or {}).items()}
    child, created = _resumed_run(
        t,
        store,
        key,
        f"region-{token}-{period}",
        {"warm_start": info.warm_start, "source_region": info.source_region},
        {
            **_flow_tags("region", period),
            "raie.action": action,
            "raie.kept_version": known,
            "raie.register": register,
        },
        parent_run_id=run_id,
    )
    if created or not t.has_metrics(child):
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
    name = region_model_name(store.dataset, info.region_id)
    if register and t.registered_from_run(name, child) is None:
        tags = {
            **promotion,
            **lineage,
            "action": action,
            "adapter_path": info.path,
            "adapter_digest": info.digest,
            "warm_start": info.warm_start,
            "source_region": info.source_region,
            "decisions": plan.counts,
            "n_new": info.n_new,
            "n_replay": info.n_replay,
        }
        t.link_artifacts(child, store.adapter_path(info.path), "adapter")
        version = lineage["bank_version"]
        model = log_region_model(t, store, child, version, info, plan.params)
        t.register_region_adapter(store.dataset, info.region_id, child, model, tags)
    t.end_run(child)
