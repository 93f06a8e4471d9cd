"""`flows.benches.incremental`: the batch focusing and the all-region training sets of the
incremental-cost measurement of `raie bench pipeline`."""

import numpy as np
import polars as pl
from safetensors.numpy import load_file, save_file

from flows.benches import incremental
from raie_core.regions import RegionConfig, SampleSource, fit_regions, save_regions
from tasks.regions import EditSummary
from tasks.store import Store


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

    path, chosen = incremental.focus_batch(store, str(embeddings), str(decisions), 2)

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
        warm_starts={affected: ("zero", None)},
    )


def test_all_region_sets_give_every_other_region_its_reservoir(tmp_path) -> None:  # noqa: ANN001
    from raie_core.regions import load_regions
    from raie_core.update import warm_start

    summary = _regions_and_sets(tmp_path)
    (affected,) = summary.affected
    others = [rid for rid in summary.live_ids if rid != affected]
    trained = [affected, others[0]]  # regions with an adapter before the period
    everything = incremental.all_region_sets(summary, trained, seed=0)

    assert everything.affected == sorted(summary.live_ids)
    # the affected region keeps its plan; every other region starts by the one rule
    assert everything.warm_starts[affected] == ("zero", None)
    assert everything.warm_starts[others[0]] == ("previous", others[0])
    regions = load_regions(summary.regions_path)
    for rid in others:
        start, source = warm_start(regions, rid, trained)
        assert everything.warm_starts[rid] == (start.value, source)
    assert everything.warm_starts[others[1]][0] == "parent"
    arrays = load_file(everything.sets_path)
    assert arrays[f"keys_{affected}"].tolist() == list(range(7))
    assert arrays[f"weights_{affected}"].tolist() == [0.5] * 7
    for rid in summary.live_ids:
        if rid == affected:
            continue
        keys = arrays[f"keys_{rid}"]
        assert keys.size == 7  # the affected regions' mean set size (reservoirs hold ~40)
        assert set(keys.tolist()) <= set(regions.reservoir(rid).tolist())
        assert (arrays[f"source_{rid}"] == SampleSource.NEW).all()
        assert (arrays[f"weights_{rid}"] == 1.0).all()
    again = load_file(incremental.all_region_sets(summary, trained, seed=0).sets_path)
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)
