"""The setup flow: snapshots -> windows -> frozen backbone -> regions -> bank v1 (champion)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows import env
from flows.params import PipelineConfig
from flows.runlog import Stages, name_run
from raie_core.data import Period
from raie_core.errors import RaieStateError
from tasks.bank import publish_bank_version
from tasks.cache import CacheConfig
from tasks.evaluate import BankSpec, evaluate
from tasks.faults import fault_point
from tasks.models import catalog_vocab, embed_windows, train_backbone
from tasks.plan import PLAN_FILE, PlanKind, TrackingPlan
from tasks.publish import finish_publication_task as finish
from tasks.publish import resume_setup
from tasks.records import SetupRecord
from tasks.regions import fit_setup_regions
from tasks.store import Store
from tasks.windows import build_setup_windows, ingest_snapshots


@flow(name="raie-setup")
def setup(
    config: PipelineConfig = PipelineConfig(),  # noqa: B008 - pydantic value, immutable
    until: date | None = None,
    home: str | None = None,
    on_error: Literal["strict", "quarantine"] = "strict",
    cache: CacheConfig = CacheConfig(),  # noqa: B008 - frozen, immutable
) -> dict:
    """Train the frozen base on the data before ``until`` (the start of the first update
    period; default: the period holding t^S) and fit the initial regions.

    Only that history is ingested (snapshots of the periods before ``until``); the source's
    later rows ("after_cut" in the report) reach updates through the landing zone like any
    new data (`raie data replay` plays them there, tasks/landing.py ingests them).

    Restartable: a setup killed before publishing leaves nothing that blocks a re-run (its
    leftovers are cleared and it starts over); one killed after publishing is completed
    (`tasks.publish.resume_setup`).

    on_error: "strict" (a bad data row fails the setup) or "quarantine" (bad rows are set
    aside in the snapshots' quarantine.parquet and counted in the report). ``cache``: the
    setup windows and their routing keys come from the home's content-keyed cache when their
    inputs are unchanged (a setup restarted after a crash; tasks/cache.py)."""
    store = Store(env.configure_stores(home), config.dataset)
    stages = Stages()
    with store.lock():
        resumed = resume_setup(store, finish)
        if resumed is not None:
            return _resumed(store, resumed)
        snapshots = ingest_snapshots(
            store,
            config.dataset,
            config.every,
            config.path,
            on_error,
            config.mapping,
            until,
            config.protocol,
        )
        first = Period.parse(snapshots["until"], config.every)
        name_run(f"setup-{config.dataset}-{first.label}")
        stages.done(
            "ingest",
            "%d snapshots %s .. %s, %d bad rows quarantined, %d later rows left to land",
            *(snapshots[k] for k in ("snapshots", "first", "last", "quarantined", "after_cut")),
        )
        vocab = catalog_vocab(store)
        windows = build_setup_windows(store, first, config.protocol, vocab, cache)
        train, heldout = windows.train, windows.heldout
        stages.done(
            "windows", "%d training, %d held-out, %s", train.rows, heldout.rows, windows.cache
        )
        base = train_backbone(
            store,
            config.backbone,
            vocab,
            train,
            config.seqrec,
            config.llm,
            config.seed,
            config.model_dump(mode="json"),
        )
        fault_point("setup-base")
        stages.done("backbone", "%s trained for %d epochs", config.backbone, base.epochs)
        keys = embed_windows(store, train, fit=config.regions, seed=config.seed, cache=cache)
        stages.done("embed", "routing keys of %d training windows, %s", keys.rows, keys.cache)
        regions = fit_setup_regions(store, keys.path, config.regions, config.seed)
        stages.done("regions", "spherical k-means fitted (K=%s)", config.regions.n_regions)
        retention = evaluate(store, BankSpec(None, {}), heldout, config.adapters, config.regions)
        stages.done("retention", "the base's held-out NDCG@10 %.4f", retention["NDCG@10"])
        metrics = {f"retention.{k}": v for k, v in retention.items()}
        plan = TrackingPlan(
            kind=PlanKind.SETUP,
            period=first.label,
            params=config.model_dump(mode="json"),
            metrics=metrics,
            base_digest=base.digest,
            data_digest=snapshots["digest"],
            promote=True,
            why="setup",
        )
        version = publish_bank_version(
            store,
            period=f"setup-{first.label}",
            config_hash=config.config_hash(),
            data_digest=snapshots["digest"],
            regions_path=regions,
            adapters={},
            decisions={},
            metrics=metrics,
            quality_gate={"passed": True, "reason": "setup"},
            record=SetupRecord(
                until=first.start,
                retention_reference=retention["NDCG@10"],
                heldout=heldout,
                setup_windows=train.rows,
                base_digest=base.digest,
                base_epochs=base.epochs,
            ),
            files={PLAN_FILE: plan.write(store.work_dir("setup") / PLAN_FILE)},
        )
        stages.done("publish", "bank v%d published", version)
        fault_point("setup-published")
        finish(store, version)
        stages.done("track", "bank v%d tracked in MLflow and champion", version)
    report = {
        "version": version,
        "until": first.label,
        "setup_windows": train.rows,
        "heldout_windows": heldout.rows,
        "base_epochs": base.epochs,
        "retention_ndcg10": retention["NDCG@10"],
        "snapshots": snapshots["snapshots"],
        "after_cut": snapshots["after_cut"],
        "quarantined": snapshots["quarantined"],
    }
    create_markdown_artifact(
        key="raie-setup", markdown=_summary(config, report), description="RAIE setup summary"
    )
    return report


def _resumed(store: Store, completed: list[int]) -> dict:
    """The report of a setup that was already published: its tracking completed now
    (``completed``), or a RaieStateError when there was nothing left to do."""
    if not completed:
        raise RaieStateError(
            f"dataset {store.dataset} in {store.home} is already set up; "
            "use a new --home to set it up again"
        )
    setup = SetupRecord.read(store, store.history()[0])
    return {
        "version": 1,
        "until": setup.until.isoformat(),
        "setup_windows": setup.setup_windows,
        "heldout_windows": setup.heldout.rows,
        "base_epochs": setup.base_epochs,
        "retention_ndcg10": setup.retention_reference,
        "repaired": completed,
    }


def _summary(config: PipelineConfig, report: dict) -> str:
    lines = [f"# RAIE setup of {config.dataset}", "", "| field | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report.items()]
    return "\n".join(lines)
