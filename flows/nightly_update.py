"""The nightly update flow (DESIGN §6): one period's RAIE edit, training and publication.

ingest -> windows -> prequential evaluation of the champion -> embed -> drift scoring and
region editing -> train affected region adapters -> retention evaluation -> quality gate ->
publish bank version -> track lineage.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows import env
from flows.params import DEFAULT_DATASET, PipelineConfig, stored_config
from raie_core.data import Period
from raie_core.evaluation import GateResult, quality_gate
from raie_core.sharing import SHARED_KEY
from tasks.adapters import AdapterInfo, train_region_adapter, train_shared_adapter
from tasks.bank import bank_spec, champion, publish_bank_version
from tasks.evaluate import BankSpec, evaluate
from tasks.lineage import track_period
from tasks.models import embed_windows, load_base
from tasks.records import PeriodRecord, SetupRecord
from tasks.regions import EditSummary, edit_period_regions
from tasks.store import BankManifest, Store
from tasks.windows import WindowsRef, build_period_windows

progress = logging.getLogger("raie.progress")


def _today() -> date:
    scheduled = flow_run.scheduled_start_time
    return (scheduled or datetime.now(UTC)).date()


@flow(
    name="raie-nightly-update",
    flow_run_name="update-{dataset}-{period}",
    task_runner=env.region_task_runner(),
)
def nightly_update(
    period: date | None = None,
    dataset: str = DEFAULT_DATASET,
    home: str | None = None,
    force: bool = False,
) -> dict:
    """Edit the regions with ``period``'s interactions (default: the last complete period)."""
    store = Store(env.raie_home(home), dataset)
    config = stored_config(store)
    this_period = (
        Period.last_complete(_today(), config.every)
        if period is None
        else Period(period, config.every)
    )
    label = this_period.label
    with store.lock():
        if label in store.published_periods() and not force:
            return {"period": label, "skipped": True}
        history = store.history()
        current, serving = history[-1], champion(store)
        setup = SetupRecord.read(store, history[0])
        windows = build_period_windows(store, this_period, config.protocol, load_base(store).vocab)
        if windows.rows == 0:
            return _publish_unchanged(store, config, label, current)
        prequential = evaluate(
            store, bank_spec(store, serving), windows, config.adapters, config.regions
        )
        base = evaluate(store, BankSpec(None, {}), windows, config.adapters, config.regions)
        keys = embed_windows(store, windows)
        summary = edit_period_regions(
            store,
            bank_spec(store, current).regions_path,
            keys,
            config.regions,
            config.adapters,
            len(history),
            sorted(current.adapters),
            config.seed,
            this_period.key,
        )
        sources = dict(current.adapters)
        shared = []
        if config.adapters.sharing.shared:
            previous = current.adapters.get(SHARED_KEY)
            shared = [train_shared_adapter(store, config.adapters, windows, previous, config.seed)]
            sources[SHARED_KEY] = str(shared[0].path)
        futures = [
            train_region_adapter.submit(store, config.adapters, summary, rid, sources, config.seed)
            for rid in summary.affected
        ]
        trained = shared + [future.result() for future in futures]
        adapters = period_adapters(current.adapters, summary, trained)
        retention = evaluate(
            store,
            BankSpec(summary.regions_path, adapters),
            setup.heldout,
            config.adapters,
            config.regions,
        )
        gate = quality_gate(
            retention["NDCG@10"], setup.retention_reference, config.retention_tolerance
        )
        fields = bank_version_fields(
            config, label, windows, summary, adapters, (prequential, base, retention), gate, serving
        )
        version = publish_bank_version(store, **fields)
        track_period(
            store,
            config.model_dump(mode="json"),
            label,
            summary,
            trained,
            version,
            fields["metrics"],
            vars(gate),
            setup.base_digest,
            windows.digest,
        )
    report = {
        "period": label,
        "version": version,
        "windows": windows.rows,
        **summary.counts,
        "live": len(summary.live_ids),
        "retrained": len(summary.affected),
        "kept": sum(1 for info in trained if info.kept and info.region_id != SHARED_KEY),
        "added": len(summary.added),
        "merged": len(summary.merged),
        "ndcg10_champion": prequential["NDCG@10"],
        "ndcg10_base": base["NDCG@10"],
        "retention_ndcg10": retention["NDCG@10"],
        "gate": "pass" if gate.passed else "fail",
    }
    _artifacts(report, summary.counts)
    progress.info("period %s done", label, extra={"raie_report": report})
    return report


def period_adapters(
    previous: dict[int, str], summary: EditSummary, trained: list[AdapterInfo]
) -> dict[int, str]:
    """The new version's adapter map: live regions that were not retrained keep their adapter,
    retrained ones their new one when it was kept (else the shared adapter serves them), and
    the shared adapter (`SHARED_KEY`) its new version."""
    retrained = {info.region_id for info in trained}
    adapters = {
        rid: path
        for rid, path in previous.items()
        if rid in summary.live_ids and rid not in retrained
    }
    return adapters | {info.region_id: info.path for info in trained if info.path is not None}


def bank_version_fields(
    config: PipelineConfig,
    label: str,
    windows: WindowsRef,
    summary: EditSummary,
    adapters: dict[int, str],
    scores: tuple[dict, dict, dict],
    gate: GateResult,
    serving: BankManifest,
) -> dict:
    """`publish_bank_version`'s keyword arguments for an edited period (also the pipeline
    bench's bare update); scores = (prequential, base, retention) metrics, serving = the
    champion those prequential scores came from."""
    names = ("prequential", "base", "retention")
    metrics = {
        f"{name}.{k}": v
        for name, values in zip(names, scores, strict=True)
        for k, v in values.items()
    }
    return {
        "period": label,
        "config_hash": config.config_hash(),
        "data_digest": windows.digest,
        "regions_path": summary.regions_path,
        "adapters": adapters,
        "decisions": summary.counts,
        "metrics": metrics,
        "quality_gate": vars(gate),
        "decisions_path": summary.decisions_path,
        "record": PeriodRecord(
            windows=windows.rows,
            affected=tuple(summary.affected),
            added=tuple(summary.added),
            merged=tuple(summary.merged),
            retired=tuple(summary.retired),
            live=len(summary.live_ids),
            champion_evaluated=serving.version,
        ),
    }


def _publish_unchanged(store: Store, config: PipelineConfig, label: str, current) -> dict:  # noqa: ANN001
    version = publish_bank_version(
        store,
        period=label,
        config_hash=config.config_hash(),
        data_digest="empty",
        regions_path=bank_spec(store, current).regions_path,
        adapters=current.adapters,
        decisions={},
        metrics={},
        quality_gate={"passed": False, "reason": "no windows"},
        record=PeriodRecord(windows=0),
    )
    report = {"period": label, "version": version, "windows": 0}
    progress.info("period %s had no windows", label, extra={"raie_report": report})
    return report


def _artifacts(report: dict, counts: dict[str, int]) -> None:
    rows = [{"field": k, "value": v} for k, v in report.items()]
    create_table_artifact(key="raie-period-metrics", table=rows, description="period metrics")
    md = [
        f"# RAIE update {report['period']}",
        "",
        "Decisions: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
        f"Live regions: {report['live']}, retrained adapters: {report['retrained']}",
        f"Prequential NDCG@10: champion {report['ndcg10_champion']:.4f}, "
        f"base {report['ndcg10_base']:.4f}; retention NDCG@10 {report['retention_ndcg10']:.4f} "
        f"(gate {report['gate']})",
    ]
    create_markdown_artifact(key="raie-period-summary", markdown="\n".join(md))
