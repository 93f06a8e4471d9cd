"""The content-keyed cache of windows and embeddings (tasks/cache.py), on a copy of the
reliability suite's built home (setup + the first week: its update filled the cache): a
re-run of the week hits and publishes the same adapters; a damaged entry is computed
again; a new landed file, which changes the week's snapshot, misses; the switch is off."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import polars as pl

from tests.flows.conftest import ml100k_slice, prefect_backend  # noqa: F401 - fixtures
from tests.reliability.state_home import DATASET, PERIODS, home  # noqa: F401 - fixture


def _weights(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.safetensors"))}


def test_a_rerun_of_a_period_hits_the_cache_and_publishes_the_same_adapters(
    home: Path,  # noqa: F811
    caplog,  # noqa: ANN001
) -> None:
    from flows.nightly_update import nightly_update
    from raie_core.data import Period
    from tasks.store import Store

    store = Store(home, DATASET)
    week = store.root / "windows" / Period(PERIODS[0], "1w").key
    shutil.rmtree(week)  # the hit restores the week's window files (replay reads them)
    with caplog.at_level(logging.INFO):
        report = nightly_update(period=PERIODS[0], dataset=DATASET, home=str(home), force=True)

    assert report["cache"] == {"windows": "cache hit", "embeddings": "cache hit"}
    stages = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith(("windows:", "embed:"))
    ]
    assert len(stages) == 2 and all("cache hit" in line for line in stages), stages
    assert (week / "windows.safetensors").is_file() and (week / "recency.safetensors").is_file()
    first, again = store.read_manifest(2), store.read_manifest(report["version"])
    assert report["version"] == 3 and again.data_digest == first.data_digest
    assert again.metrics == first.metrics and again.decisions == first.decisions
    assert set(again.adapters) == set(first.adapters) and first.adapters
    for region, rel in first.adapters.items():
        weights = _weights(store.adapter_path(rel))
        assert weights and _weights(store.adapter_path(again.adapters[region])) == weights


def test_a_damaged_entry_is_computed_again_and_new_data_misses(
    home: Path,  # noqa: F811
    ml100k_slice,  # noqa: F811
    caplog,  # noqa: ANN001
) -> None:
    from prefect.logging import disable_run_logger

    from flows.params import stored_config
    from raie_core.data import Period
    from tasks.bank import require_setup
    from tasks.cache import CacheConfig, Outcome
    from tasks.landing import ingest_landing
    from tasks.models import embed_windows, load_base
    from tasks.store import Store
    from tasks.windows import build_gated_period_windows

    store = Store(home, DATASET)
    config = stored_config(store)
    period = Period(PERIODS[0], config.every)
    vocab = load_base(store).vocab

    def build(cache: CacheConfig = CacheConfig()):  # noqa: ANN202, B008
        return build_gated_period_windows.fn(
            store, period, config.protocol, vocab, config.gate, cache
        )

    hit = build()
    assert hit.cache == Outcome.HIT
    assert embed_windows.fn(store, hit.train).cache == Outcome.HIT
    for kind in ("windows", "embeddings"):  # every entry loses the tail of a file
        for entry in (store.cache_dir / kind).iterdir():
            damaged = max(entry.glob("*.safetensors"), key=lambda p: p.stat().st_size)
            damaged.write_bytes(damaged.read_bytes()[:-100])
    with caplog.at_level(logging.WARNING, logger="tasks.cache"):
        again = build()
    assert "is damaged" in caplog.text and "computed again" in caplog.text
    assert again.cache == Outcome.COMPUTED and again.all.digest == hit.all.digest
    assert embed_windows.fn(store, again.train).cache == Outcome.COMPUTED
    assert build().cache == Outcome.HIT  # stored again, whole
    assert embed_windows.fn(store, again.train).cache == Outcome.HIT

    # a file lands with rows of the week (the next week's, a week earlier): its snapshot
    # changes, so its windows are a miss; with the cache off nothing is read or stored
    rows = pl.read_parquet(ml100k_slice(150))
    later = Period(PERIODS[1], config.every)
    stamps = pl.col("timestamp")
    moved = rows.filter((stamps >= later.start_seconds) & (stamps < later.end_seconds))
    moved = moved.with_columns(stamps - 7 * 86_400)
    moved.write_parquet(store.landing_dir / "zz-late-rows.parquet")
    with disable_run_logger():
        ingested = ingest_landing.fn(store, None, period, require_setup(store).until)
    assert ingested["rows"] > 0
    entries = sorted((store.cache_dir / "windows").iterdir())
    off = build(CacheConfig(enabled=False))
    assert off.cache == Outcome.OFF and sorted((store.cache_dir / "windows").iterdir()) == entries
    changed = build()
    assert changed.cache == Outcome.COMPUTED and changed.all.rows > hit.all.rows
    assert build().cache == Outcome.HIT


def test_a_misspelt_cache_parameter_is_refused() -> None:
    """Prefect validates a deployment's ``cache`` parameter against `CacheConfig`: a key it
    does not have fails instead of leaving the cache on."""
    import pytest
    from prefect.exceptions import ParameterTypeError

    from flows.nightly_update import nightly_update
    from tasks.cache import CacheConfig

    ok = nightly_update.validate_parameters({"cache": {"enabled": False}})
    assert ok["cache"] == CacheConfig(enabled=False)
    with pytest.raises(ParameterTypeError, match="enable"):
        nightly_update.validate_parameters({"cache": {"enable": False}})
