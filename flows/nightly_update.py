"""The nightly update flow (DESIGN §6): one period's RAIE edit, training and publication.

ingest what landed for the period (tasks/landing.py) -> windows (a recency slice of users held out) -> prequential evaluation of the
champion and the base -> embed -> drift scoring and region editing from the champion -> train
affected region adapters -> retention and recency ranks -> statistical gate -> publish the
candidate -> track lineage -> move the champion (state store + MLflow alias) if it passed.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, State

from flows import env
from flows.params import DEFAULT_DATASET, PipelineConfig, stored_config
from flows.runlog import Stages, name_run, period_artifacts, repairs_note
from raie_core.data import Period
from raie_core.sharing import SHARED_KEY
from tasks.adapters import (
    AdapterInfo,
    adopted,
    kept_regions,
    period_adapters,
    train_recent_adapter,
    train_region_adapter,
    train_shared_adapter,
)
from tasks.bank import (
    bank_spec,
    champion,
    period_version,
    publish_bank_version,
    require_setup,
    update_period,
    version_before,
)
from tasks.cache import CacheConfig
from tasks.champion import recover_champion
from tasks.evaluate import BankSpec, Ranked, rank_windows
from tasks.faults import fault_point
from tasks.gate import PREQUENTIAL_FILE, GateInputs, judge_candidate, prequential_table
from tasks.landing import ingest_landing
from tasks.models import embed_windows, load_base
from tasks.plan import PLAN_FILE, PlanKind, TrackingPlan
from tasks.publish import finish_pending
from tasks.publish import finish_publication_task as finish
from tasks.records import PeriodRecord, SetupRecord
from tasks.regions import EditSummary, edit_period_regions
from tasks.retention import RetentionConfig, gc_after_publish
from tasks.store import BankManifest, Store
from tasks.windows import PeriodWindows, WindowsRef, build_gated_period_windows

progress = logging.getLogger("raie.progress")
REJECTED = "Rejected"
"""The name of the Completed state of an update whose candidate the gate rejected."""


def _today() -> date:
    """The run's day in UTC: its scheduled start, else now (a plain `date`: Prefect's own date
    type is refused by `Period`)."""
    when = flow_run.scheduled_start_time or datetime.now(UTC)
    return date(when.year, when.month, when.day)


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
    landing: str | None = None,
    retention: RetentionConfig = RetentionConfig(),  # noqa: B008 - frozen, immutable
    cache: CacheConfig = CacheConfig(),  # noqa: B008 - frozen, immutable
) -> dict:
    """Edit the champion's regions with ``period``'s interactions (default: the last complete
    period); the candidate becomes champion only when the statistical gate passes.

    Rule of the next update: every period edits from the champion (CURRENT), so a rejected
    candidate is published for audit but never becomes the base of a later edit. ``force``
    replaces a processed period: the edit starts from the champion chain's version before
    it and the new version's lineage names the one it replaces (`raie.replaces`).

    The period must start on the home's cadence, not before the setup cut, and have ended.
    Its first task ingests what arrived in the landing zone (``landing``, default
    `<home>/landing/<dataset>/`; rules in tasks/landing.py: duplicates add nothing, late rows
    join this period's snapshot as history, a bad file stops the run before anything is
    ingested); the report's "ingested" holds the counts. A period without windows is a
    visible no-op that publishes nothing and stays open.
    A version is done when its MLflow records are (`tasks.publish`): a crash anywhere after
    publishing leaves a plan that the next run of any command completes first.

    After a publish, ``retention`` (`RetentionConfig`: keep the newest 8 versions, the
    champion and setup) removes what no kept version needs, under the same lock.

    ``cache`` (`CacheConfig`): the period's windows and their routing keys come from the
    home's content-keyed cache when their inputs are unchanged (a re-run of the period),
    tasks/cache.py; the stage log says "cache hit" or "computed"."""
    store = Store(env.configure_stores(home), dataset)
    stages = Stages()
    setup, config, this_period = checked_period(store, period, _today())
    label = this_period.label
    name_run(f"update-{dataset}-{label}")
    with store.lock():
        recover_champion(store)
        done = finish_pending(store, finish)
        repaired = {"repaired": done} if done else {}
        replaced = period_version(store, label)
        if replaced is not None and not force:
            return {"period": label, "skipped": True, **repaired}
        serving = champion(store) if replaced is None else version_before(store, this_period)
        vocab = load_base(store).vocab
        stages.done(
            "check", "champion v%d and base verified%s", serving.version, repairs_note(done)
        )
        ingested = {"ingested": ingest_landing(store, landing, this_period, setup.until)}
        stages.done("ingest", "%s", ingested["ingested"])
        windows = build_gated_period_windows(
            store, this_period, config.protocol, vocab, config.gate, cache
        )
        stages.done(
            "windows",
            "%d in %s, edits from champion v%d, %s",
            *(windows.all.rows, label, serving.version, windows.cache),
        )
        if windows.all.rows == 0:
            return _no_windows(label, repaired | ingested)
        keys = embed_windows(store, windows.train, cache=cache)
        stages.done("embed", "routing keys of %d training windows, %s", keys.rows, keys.cache)
        run = (store, config, this_period, windows, serving, setup, replaced, stages)
        report = _update(*run, keys.path)
        report |= ingested | {
            "cache": {"windows": windows.cache.value, "embeddings": keys.cache.value}
        }
        if retention.after_publish:
            report["gc_bytes_freed"] = gc_after_publish(store, retention)
            stages.done("gc", "%d bytes freed", report["gc_bytes_freed"])
    period_artifacts(report)
    progress.info("period %s done", label, extra={"raie_report": report})
    return _final_state(report | repaired)


def _final_state(report: dict) -> dict | State:
    """The run's result: ``report``, in a Completed state named "Rejected" when the gate
    rejected the candidate, so the Prefect UI shows it (the flow's caller still gets
    ``report``; `raie update --fail-on-reject` turns it into exit code 3)."""
    if report["gate"] == "pass":
        return report
    message = f"candidate v{report['version']} rejected: {report['gate_reason']}"
    get_run_logger().info("%s; the champion stays v%s", message, report["champion"])
    return Completed(data=report, name=REJECTED, message=message)


def checked_period(
    store: Store, period: date | None, today: date
) -> tuple[SetupRecord, PipelineConfig, Period]:
    """(setup record, stored config, the period to process) of an update of ``period``
    (None: the last complete one), or one sentence saying why not (`update_period`); the
    CLI calls it too, before a flow starts."""
    setup = require_setup(store)
    config = stored_config(store)
    return setup, config, update_period(store, setup, config.every, period, today)


def _update(
    store: Store,
    config: PipelineConfig,
    period: Period,
    windows: PeriodWindows,
    serving: BankManifest,
    setup: SetupRecord,
    replaces: int | None,
    stages: Stages,
    keys: str,
) -> dict:
    """Score the champion, edit and train from it (``keys``: the routing keys of the
    training windows, `embed_windows`), gate the candidate, publish and track."""
    ranked = _ranker(store, config, period.key)
    prequential = ranked(bank_spec(store, serving), windows.all, "champion-prequential")
    base = ranked(BankSpec(None, {}), windows.all, "base-prequential")
    scored = (prequential.metrics["NDCG@10"], base.metrics["NDCG@10"])
    stages.done("prequential", "NDCG@10 champion %.4f, base %.4f", *scored)
    summary, trained = _edit_and_train(store, config, period, windows.train, serving, keys, stages)
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
    stages.done("gate", "%s: %s", "pass" if gate["passed"] else "REJECTED", gate["reason"])
    scores = (prequential.metrics, base.metrics, inputs.candidate_retention.metrics)
    fields = bank_version_fields(
        config, period.label, windows.all, summary, candidate.adapters, scores, gate, serving
    )
    table = prequential_table(store, prequential, base, period.key)
    plan = tracking_plan(config, period, summary, trained, fields, setup, serving, replaces)
    plan_file = plan.write(store.work_dir(period.key) / PLAN_FILE)
    version = publish_bank_version(
        store,
        **fields,
        files={PREQUENTIAL_FILE: table, PLAN_FILE: plan_file},
        make_current=False,
        parent_version=serving.version,
    )
    stages.done("publish", "v%d published", version)
    fault_point("published")
    finish(store, version)
    champion_now = store.current_version()
    stages.done("track", "v%d tracked in MLflow; champion v%d", version, champion_now)
    return _report(period, version, champion_now, windows, summary, trained, scores, gate)


def _edit_and_train(
    store: Store,
    config: PipelineConfig,
    period: Period,
    train: WindowsRef,
    serving: BankManifest,
    keys: str,
    stages: Stages,
) -> tuple[EditSummary, list[AdapterInfo]]:
    """Edit the champion's regions with the period's training rows (``keys``: their routing
    keys), train the shared adapter (`SharingConfig.shared`) and the affected region adapters
    (each from the shared one, or, the paper's variant, from the champion's)."""
    summary = edit_period_regions(
        store,
        bank_spec(store, serving).regions_path,
        keys,
        config.regions,
        config.adapters,
        len(store.versions()),
        sorted(serving.adapters),
        config.seed,
        period.key,
    )
    edits = ", ".join(f"{action} {n}" for action, n in summary.counts.items())
    stages.done("edit", "%s; %d regions affected", edits, len(summary.affected))
    sources = dict(serving.adapters)
    shared = []
    if config.adapters.sharing.shared:
        previous = serving.adapters.get(SHARED_KEY)
        shared = [train_shared_adapter(store, config.adapters, train, previous, config.seed)]
        sources[SHARED_KEY] = str(shared[0].path)
    stages.done("train-shared", "shared step %s", "trained" if shared else "off")
    futures = [
        train_region_adapter.submit(store, config.adapters, summary, rid, sources, config.seed)
        for rid in summary.affected
    ]
    trained = shared + [future.result() for future in futures]
    recent = []
    if config.adapters.sharing.recent:  # over the candidate's map so far (`raie_core.recent`)
        candidate = period_adapters(serving.adapters, summary, trained)
        args = (config.adapters, config.regions, train, keys, summary, candidate, config.seed)
        recent = train_recent_adapter(store, *args)
    counts = (len(futures), kept_regions(trained), len(recent))
    stages.done("train-regions", "%d region adapters trained, %d kept, %d took recent", *counts)
    return summary, adopted(trained, recent)


def _report(
    period: Period,
    version: int,
    champion_now: int,
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
        "champion": champion_now,
        "windows": windows.all.rows,
        "recency": 0 if windows.recency is None else windows.recency.windows.rows,
        **{action.lower(): n for action, n in summary.counts.items()},
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


def tracking_plan(
    config: PipelineConfig,
    period: Period,
    summary: EditSummary,
    trained: list[AdapterInfo],
    fields: dict,
    setup: SetupRecord,
    serving: BankManifest,
    replaces: int | None,
) -> TrackingPlan:
    """What MLflow must hold for the period's version (published with it)."""
    gate = fields["quality_gate"]
    return TrackingPlan(
        kind=PlanKind.UPDATE,
        period=period.label,
        params=config.model_dump(mode="json"),
        metrics=fields["metrics"],
        base_digest=setup.base_digest,
        data_digest=fields["data_digest"],
        promote=bool(gate["passed"]),
        why=gate["reason"],
        gate=gate,
        counts=summary.counts,
        drift=summary.drift,
        live=len(summary.live_ids),
        retrained=len(summary.affected),
        added=tuple(summary.added),
        trained=tuple(trained),
        previous=dict(serving.adapters),
        work_key=period.key,
        replaces=replaces,
    )


def _no_windows(label: str, extra: dict) -> dict:
    """The visible no-op of a period without windows: nothing is published and the period
    is not marked done (its data may still arrive); ``extra``: ingest counts, repairs."""
    reason = f"no windows in period {label}: nothing published, the period stays open"
    report = {"period": label, "windows": 0, "published": False, "reason": reason, **extra}
    progress.warning(reason, extra={"raie_report": report})
    return report
