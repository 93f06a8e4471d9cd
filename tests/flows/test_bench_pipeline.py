"""`raie bench pipeline`: the batch focusing, the all-region training sets, the CLI wiring and
(slow) a small end-to-end run whose JSON has every field with sane values."""

import json
import math

import numpy as np
import polars as pl
import pytest
from safetensors.numpy import load_file, save_file

from flows.benches import pipeline
from raie_core.regions import RegionConfig, SampleSource, fit_regions, save_regions
from tasks.regions import EditSummary
from tasks.store import Store

FIELDS = (
    "overhead_fraction",
    "flow_wall_s",
    "bare_wall_s",
    "overhead_fraction_cpu",
    "flow_cpu_s",
    "bare_cpu_s",
    "incremental_ratio",
    "affected",
    "live",
    "affected_wall_s",
    "all_wall_s",
)


def test_registered_with_the_cli() -> None:
    from flows.cli import build_parser

    args = build_parser().parse_args(["bench", "pipeline", "--max-users", "10", "--repeats", "3"])
    assert args.handler is pipeline.run
    assert (args.max_users, args.repeats, args.regions, args.until) == (10, 3, 6, "1997-12-15")
    assert (args.epochs, args.min_train_samples, args.torch_threads) == (None, None, 1)


def test_focus_batch_keeps_updates_of_the_busiest_regions(tmp_path) -> None:  # noqa: ANN001
    store = Store(tmp_path, "table")
    keys = np.arange(100, 110, dtype=np.int64)
    # region 2: 3 updates, region 0: 2 updates (+1 expand), regions 1 and 3: 2 updates each
    # (tie with 0; the lower id 0 wins), region 4: ADD only.
    actions = (
        ["UPDATE"] * 3 + ["UPDATE", "UPDATE", "EXPAND"] + ["UPDATE", "UPDATE", "ADD", "UPDATE"]
    )
    k1 = [2, 2, 2, 0, 0, 0, 1, 1, 4, 3]
    decisions = tmp_path / "decisions.parquet"
    pl.DataFrame({"key": keys, "action": actions, "k1": k1}).write_parquet(decisions)
    X = np.eye(10, 4, dtype=np.float32)[np.arange(10) % 4]
    embeddings = tmp_path / "emb.safetensors"
    save_file({"X": X, "keys": keys}, str(embeddings))

    path, chosen = pipeline.focus_batch(store, str(embeddings), str(decisions), 2)

    assert chosen == [0, 2]
    kept = load_file(path)
    assert kept["keys"].tolist() == [100, 101, 102, 103, 104]
    np.testing.assert_array_equal(kept["X"], X[:5])


def _regions_and_sets(tmp_path) -> EditSummary:  # noqa: ANN001
    rng = np.random.default_rng(0)
    centers = np.eye(3, 8)
    X = np.repeat(centers, 40, axis=0) + 0.05 * rng.standard_normal((120, 8))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    regions = fit_regions(X, RegionConfig(n_regions=3, n_init=1), 0, keys=np.arange(120) + 1000)
    regions_path = save_regions(regions, tmp_path / "regions")
    affected = int(regions.live_ids[0])
    sets = {
        f"keys_{affected}": np.arange(7, dtype=np.int64),
        f"weights_{affected}": np.full(7, 0.5, dtype=np.float32),
        f"source_{affected}": np.zeros(7, dtype=np.int8),
    }
    save_file(sets, str(tmp_path / "training_sets.safetensors"))
    return EditSummary(
        regions_path=str(regions_path),
        decisions_path="",
        counts={"UPDATE": 7},
        sets_path=str(tmp_path / "training_sets.safetensors"),
        affected=[affected],
        added=[],
        merged=[],
        retired=[],
        live_ids=[int(i) for i in regions.live_ids],
    )


def test_all_region_sets_give_every_other_region_its_reservoir(tmp_path) -> None:  # noqa: ANN001
    from raie_core.regions import load_regions

    summary = _regions_and_sets(tmp_path)
    everything = pipeline.all_region_sets(summary, seed=0)

    assert everything.affected == sorted(summary.live_ids)
    arrays = load_file(everything.sets_path)
    (affected,) = summary.affected
    assert arrays[f"keys_{affected}"].tolist() == list(range(7))
    assert arrays[f"weights_{affected}"].tolist() == [0.5] * 7
    regions = load_regions(summary.regions_path)
    for rid in summary.live_ids:
        if rid == affected:
            continue
        keys = arrays[f"keys_{rid}"]
        assert keys.size == 7  # the affected regions' mean set size (reservoirs hold ~40)
        assert set(keys.tolist()) <= set(regions.reservoir(rid).tolist())
        assert (arrays[f"source_{rid}"] == SampleSource.NEW).all()
        assert (arrays[f"weights_{rid}"] == 1.0).all()
    again = load_file(pipeline.all_region_sets(summary, seed=0).sets_path)
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)


@pytest.mark.slow
def test_small_run_prints_sane_json(prefect_backend, tmp_path, capsys) -> None:  # noqa: ANN001
    from flows.cli import main

    small = "--max-users 150 --repeats 1 --backbone-epochs 4 --epochs 1 --min-train-samples 4"
    code = main(["bench", "pipeline", "--json", "--home", str(tmp_path / "home"), *small.split()])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in FIELDS:
        assert isinstance(result[name], int | float) and math.isfinite(result[name]), name
    assert result["live"] == 6 and 1 <= result["affected"] < result["live"]
    assert result["affected_ids"] == result["chosen"]
    assert result["windows"] > 0 and result["focus_windows"] <= result["period_windows"]
    for name in ("flow_wall_s", "bare_wall_s", "affected_wall_s", "all_wall_s", "flow_cpu_s"):
        assert result[name] > 0, name
    assert result["overhead_fraction"] < 1 and result["incremental_ratio"] > 0
