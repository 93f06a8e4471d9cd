"""The setup flow: snapshots -> windows -> frozen backbone -> regions -> bank v1 (champion)."""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows import env
from flows.params import PipelineConfig
from raie_core.data import Period
from tasks.bank import publish_bank_version
from tasks.evaluate import BankSpec, evaluate
from tasks.lineage import track_setup
from tasks.models import catalog_vocab, embed_windows, train_backbone
from tasks.records import SetupRecord
from tasks.regions import fit_setup_regions
from tasks.store import Store
from tasks.windows import build_setup_windows, default_setup_cut, ingest_snapshots


@flow(name="raie-setup")
def setup(
    config: PipelineConfig = PipelineConfig(),  # noqa: B008 - pydantic value, immutable
    until: date | None = None,
    home: str | None = None,
) -> dict:
    """Train the frozen base on the data before ``until`` (the start of the first update
    period; default: the period holding t^S) and fit the initial regions."""
    store = Store(env.configure_stores(home), config.dataset)
    first = None if until is None else Period(until, config.every)
    with store.lock():
        snapshots = ingest_snapshots(store, config.dataset, config.every, config.path)
        first = first or default_setup_cut(store, config.protocol, config.every)
        vocab = catalog_vocab(store)
        train, heldout = build_setup_windows(store, first, config.protocol, vocab)
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
        keys = embed_windows(store, train, fit=config.regions, seed=config.seed)
        regions = fit_setup_regions(store, keys, config.regions, config.seed)
        retention = evaluate(store, BankSpec(None, {}), heldout, config.adapters, config.regions)
        version = publish_bank_version(
            store,
            period=f"setup-{first.label}",
            config_hash=config.config_hash(),
            data_digest=snapshots["digest"],
            regions_path=regions,
            adapters={},
            decisions={},
            metrics={f"retention.{k}": v for k, v in retention.items()},
            quality_gate={"passed": True, "reason": "setup"},
            record=SetupRecord(
                until=first.start,
                retention_reference=retention["NDCG@10"],
                heldout=heldout,
                setup_windows=train.rows,
                base_digest=base.digest,
                base_epochs=base.epochs,
            ),
        )
        track_setup(
            store,
            config.model_dump(mode="json"),
            base.digest,
            version,
            {f"retention.{k}": v for k, v in retention.items()},
            first.label,
        )
    report = {
        "version": version,
        "until": first.label,
        "setup_windows": train.rows,
        "heldout_windows": heldout.rows,
        "base_epochs": base.epochs,
        "retention_ndcg10": retention["NDCG@10"],
        "snapshots": snapshots["snapshots"],
    }
    create_markdown_artifact(
        key="raie-setup", markdown=_summary(config, report), description="RAIE setup summary"
    )
    return report


def _summary(config: PipelineConfig, report: dict) -> str:
    lines = [f"# RAIE setup of {config.dataset}", "", "| field | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report.items()]
    return "\n".join(lines)
