"""Recommendations from the champion bank (the `raie recommend` path)."""

from __future__ import annotations

import polars as pl

from raie_core.adapters import AdapterConfig
from raie_core.errors import RaieDataError
from raie_core.protocol import ProtocolConfig, latest_context
from raie_core.regions import RegionConfig, load_regions
from raie_core.serving import recommend_contexts
from tasks import ingest
from tasks.adapters import load_bank_adapters
from tasks.bank import bank_spec, champion
from tasks.models import load_base
from tasks.store import Store


def recommend(
    store: Store,
    user: str,
    k: int,
    protocol: ProtocolConfig,
    regions_config: RegionConfig,
    adapters_config: AdapterConfig,
) -> dict:
    """Top-k unseen items for ``user`` from the champion: ids, titles, scores and the route."""
    manifest = champion(store)
    spec = bank_spec(store, manifest)
    backbone = load_base(store)
    history = pl.concat(
        [ingest.read_snapshot(p) for p in ingest.snapshot_files(store.snapshots_dir)],
        how="vertical_relaxed",
    )
    user_value = int(user) if history["user_id"].dtype.is_integer() and user.isdigit() else user
    if history.filter(pl.col("user_id") == user_value).height == 0:
        raise RaieDataError(f"user {user!r} has no interactions in {store.snapshots_dir}")
    context = latest_context(history, [user_value], protocol, backbone.vocab)
    bank = load_bank_adapters(store, adapters_config, spec.adapters)
    top = recommend_contexts(bank, load_regions(spec.regions_path), regions_config, context, k)
    catalog = ingest.read_catalog(store.snapshots_dir)
    titles = dict(zip(catalog["item_id"].to_list(), catalog["title"].to_list(), strict=True))
    served = int(top.region[0])
    return {
        "user": user,
        "bank_version": manifest.version,
        "period": manifest.period,
        "region": served if served >= 0 else None,
        "items": [
            {"item_id": i.item(), "title": titles.get(i.item()), "score": float(s)}
            for i, s in zip(top.items[0], top.scores[0], strict=True)
        ],
    }
