"""The nightly update flow (DESIGN §6): one period's RAIE edit, training and publication.

ingest -> windows (a recency slice of users held out) -> prequential evaluation of the
champion and the base -> embed -> drift scoring and region editing from the champion -> train
affected region adapters -> retention and recency ranks -> statistical gate -> publish the
candidate -> track lineage -> move the champion (state store + MLflow alias) if it passed.
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
from raie_core.sharing import SHARED_KEY
from tasks.adapters import AdapterInfo, kept_regions, train_region_adapter, train_shared_adapter
from tasks.bank import bank_spec, champion, processed_periods, publish_bank_version
from tasks.champion import promote_candidate, recover_champion
from tasks.evaluate import BankSpec, Ranked, rank_windows
from tasks.gate import PREQUENTIAL_FILE, GateInputs, judge_candidate, prequential_table, weekly_plot
from tasks.lineage import track_period
from tasks.models import embed_windows, load_base
from tasks.records import PeriodRecord, SetupRecord
from tasks.regions import EditSummary, edit_period_regions
from tasks.store import BankManifest, Store
from tasks.windows import PeriodWindows, WindowsRef, build_gated_period_windows

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
    """Edit the champion's regions with ``period``'s interactions (default: the last complete
    period); the candidate becomes champion only when the statistical gate passes.

    Rule of the next update: every period edits from the champion (CURRENT), so a rejected
    candidate is published for audit but never becomes the base of a later edit. A crash
    between publishing a passed candidate and moving the champion leaves the period
    processed and the candidate unpromoted: `raie promote --version N` finishes it."""
    store = Store(env.configure_stores(home), dataset)
    config = stored_config(store)
    this_period = (
        Period.last_complete(_today(), config.every)
        if period is None
        else Period(period, config.every)
    )
    label = this_period.label
    with store.lock():
        recover_champion(store)
        if label in processed_periods(store) and not force:
            return {"period": label, "skipped": True}
        serving = champion(store)
        setup = SetupRecord.read(store, store.history()[0])
        windows = build_gated_period_windows(
            store, this_period, config.protocol, load_base(store).vocab, config.gate
        )
        if windows.all.rows == 0:
            return _publish_unchanged(store, config, label, serving)
        report = _update(store, config, this_period, windows, serving, setup)
    _artifacts(report)
    progress.info("period %s done", label, extra={"raie_report": report})
    return report


def _update(
    store: Store,
    config: PipelineConfig,
    period: Period,
    windows: PeriodWindows,
    serving: BankManifest,
    setup: SetupRecord,
) -> dict:
    """Score the champion, edit and train from it, gate the candidate, publish and track."""
    ranked = _ranker(store, config, period.key)
    prequential = ranked(bank_spec(store, serving), windows.all, "champion-prequential")
    base = ranked(BankSpec(None, {}), windows.all, "base-prequential")
    summary, trained = _edit_and_train(store, config, period, windows.train, serving)
    candidate = BankSpec(summary.regions_path, period_adapters(serving.adapters, summary, trained))
    recency = windows.recency
    inputs = GateInputs(
        candidate_retention=ranked(candidate, setup.heldout, "candidate-retention"),
        champion_retention=ranked(bank_spec(store, serving), setup.heldout, "champion-retention"),
        base_retention=ranked(BankSpec(None, {}), setup.heldout, "base-retention"),
        champion_prequential=prequential,
        candidate_recency=recency and ranked(candidate, recency.windows, "candidate-recency"),
        recency=recency,
    )
    gate = judge_candidate(config.gate, inputs)
    scores = (prequential.metrics, base.metrics, inputs.candidate_retention.metrics)
    fields = bank_version_fields(
        config, period.label, windows.all, summary, candidate.adapters, scores, gate, serving
    )
    table = prequential_table(store, prequential, base, period.key)
    version = publish_bank_version(
        store, **fields, files={PREQUENTIAL_FILE: table}, make_current=False
    )
    track_period(
        store,
        config.model_dump(mode="json"),
        period.label,
        summary,
        trained,
        version,
        fields["metrics"],
        gate,
        setup.base_digest,
        windows.all.digest,
        previous=serving.adapters,
        plots_dir=weekly_plot(store, setup.retention_reference, period.key),
    )
    if gate["passed"]:
        promote_candidate(store, version, gate["reason"])
    return _report(period, version, serving, windows, summary, trained, scores, gate)


def _edit_and_train(
    store: Store,
    config: PipelineConfig,
    period: Period,
    train: WindowsRef,
    serving: BankManifest,
) -> tuple[EditSummary, list[AdapterInfo]]:
    """Edit the champion's regions with the period's training rows, train the shared adapter
    (`SharingConfig.shared`) and the affected region adapters (each from the shared one, or,
    the paper's variant, from the champion's)."""
    summary = edit_period_regions(
        store,
        bank_spec(store, serving).regions_path,
        embed_windows(store, train),
        config.regions,
        config.adapters,
        len(store.versions()),
        sorted(serving.adapters),
        config.seed,
        period.key,
    )
    sources = dict(serving.adapters)
    shared = []
    if config.adapters.sharing.shared:
        previous = serving.adapters.get(SHARED_KEY)
        shared = [train_shared_adapter(store, config.adapters, train, previous, config.seed)]
        sources[SHARED_KEY] = str(shared[0].path)
    futures = [
        train_region_adapter.submit(store, config.adapters, summary, rid, sources, config.seed)
        for rid in summary.affected
    ]
    return summary, shared + [future.result() for future in futures]


def _report(
    period: Period,
    version: int,
    serving: BankManifest,
    windows: PeriodWindows,
    summary: EditSummary,
    trained: list[AdapterInfo],
    scores: tuple[dict, dict, dict],
    gate: dict,
) -> dict:
    """The period's report (the CLI table, the Prefect artifact, the progress record)."""
    prequential, base, retention = scores
    return {
        "period": period.label,
        "version": version,
        "champion": version if gate["passed"] else serving.version,
        "windows": windows.all.rows,
        "recency": 0 if windows.recency is None else windows.recency.windows.rows,
        **summary.counts,
        "live": len(summary.live_ids),
        "retrained": len(summary.affected),
        "kept": kept_regions(trained),
        "added": len(summary.added),
        "merged": len(summary.merged),
        "ndcg10_champion": prequential["NDCG@10"],
        "ndcg10_base": base["NDCG@10"],
        "retention_ndcg10": retention["NDCG@10"],
        "gate": "pass" if gate["passed"] else "fail",
        "gate_reason": gate["reason"],
    }


def _ranker(store: Store, config: PipelineConfig, work_key: str):  # noqa: ANN202 - a closure
    """``rank(spec, windows, name)``: `rank_windows` into the period's work area."""

    def rank(spec: BankSpec, windows: WindowsRef, name: str) -> Ranked:
        return rank_windows(store, spec, windows, config.adapters, config.regions, work_key, name)

    return rank


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
    gate: dict,
    serving: BankManifest,
) -> dict:
    """`publish_bank_version`'s keyword arguments for an edited period (also the pipeline
    bench's bare update); scores = (prequential, base, retention) metrics, serving = the
    champion those prequential scores came from; gate = the gate's decision record."""
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
        "quality_gate": dict(gate),
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


def _publish_unchanged(store: Store, config: PipelineConfig, label: str, serving) -> dict:  # noqa: ANN001
    version = publish_bank_version(
        store,
        period=label,
        config_hash=config.config_hash(),
        data_digest="empty",
        regions_path=bank_spec(store, serving).regions_path,
        adapters=serving.adapters,
        decisions={},
        metrics={},
        quality_gate={"passed": False, "reason": "no windows"},
        record=PeriodRecord(windows=0),
        make_current=False,
    )
    report = {"period": label, "version": version, "windows": 0}
    progress.info("period %s had no windows", label, extra={"raie_report": report})
    return report


def _artifacts(report: dict) -> None:
    rows = [{"field": k, "value": v} for k, v in report.items()]
    create_table_artifact(key="raie-period-metrics", table=rows, description="period metrics")
    md = [
        f"# RAIE update {report['period']}",
        "",
        "Decisions: " + ", ".join(f"{k} {report.get(k, 0)}" for k in ("UPDATE", "EXPAND", "ADD")),
        f"Live regions: {report['live']}, retrained adapters: {report['retrained']}",
        f"Prequential NDCG@10: champion {report['ndcg10_champion']:.4f}, "
        f"base {report['ndcg10_base']:.4f}; candidate retention NDCG@10 "
        f"{report['retention_ndcg10']:.4f}",
        "",
        f"Gate: **{report['gate']}** — {report['gate_reason']}; champion is "
        f"v{report['champion']} (candidate v{report['version']})",
    ]
    create_markdown_artifact(key="raie-period-summary", markdown="\n".join(md))
