"""region_training_sets: new samples, soft shares, seeded replay at ratio rho, affected regions."""

import math
from dataclasses import replace

import numpy as np
from scipy.stats import vonmises_fisher

from raie_core.regions import (
    Action,
    RegionConfig,
    SampleSource,
    edit_regions,
    fit_regions,
    region_training_sets,
)
from raie_core.training import replay_count

RHO = 0.7
"""The reference replay ratio (`AdapterConfig.replay_ratio`)."""


def _setup(seed: int = 0):
    rng = np.random.default_rng(seed)
    mus = rng.standard_normal((4, 64))
    mus /= np.linalg.norm(mus, axis=1, keepdims=True)
    X = np.vstack([vonmises_fisher(m, 200.0).rvs(300, random_state=rng) for m in mus[:3]])
    cfg = RegionConfig(n_regions=3)
    return fit_regions(X.astype(np.float32), cfg, seed=0, keys=np.arange(900)), cfg, mus, rng


def test_new_samples_and_replay_at_ratio() -> None:
    regions, cfg, mus, rng = _setup()
    X = vonmises_fisher(mus[0], 200.0).rvs(60, random_state=rng).astype(np.float32)
    keys = 10_000 + np.arange(60)
    result = edit_regions(regions, X, cfg, period=1, keys=keys)
    sets = region_training_sets(result, cfg, RHO, seed=3)
    target = int(np.bincount(result.decisions.k1).argmax())
    s = sets.sets[target]
    joined = result.decisions.action != Action.ADD
    n_new = int(np.count_nonzero(joined & (result.decisions.k1 == target)))
    assert s.n_new == n_new and sets.affected == (target,)
    replay = s.keys[s.source == SampleSource.REPLAY]
    n_batch = n_new + int(np.count_nonzero(s.source == SampleSource.SHARE))
    assert replay.size == round(n_batch * 0.7 / 0.3) == replay_count(n_batch, RHO)
    assert set(replay.tolist()) <= set(regions.reservoir(target).tolist())
    assert np.unique(replay).size == replay.size
    update = s.source == SampleSource.NEW
    expected = np.where(
        result.decisions.action[np.isin(keys, s.keys[update])] == Action.UPDATE, 1.0, 0.25
    )
    np.testing.assert_allclose(np.sort(s.weights[update]), np.sort(expected))
    others = [r for r in sets.sets if r != target]
    assert all(not sets.sets[r].affected and sets.sets[r].n_new == 0 for r in others)


def test_replay_is_seeded() -> None:
    regions, cfg, mus, rng = _setup(1)
    X = vonmises_fisher(mus[1], 200.0).rvs(40, random_state=rng).astype(np.float32)
    result = edit_regions(regions, X, cfg, period=1, keys=5000 + np.arange(40))
    a, b = (
        region_training_sets(result, cfg, RHO, seed=7),
        region_training_sets(result, cfg, RHO, seed=7),
    )
    c = region_training_sets(result, cfg, RHO, seed=8)
    rid = a.affected[0]
    np.testing.assert_array_equal(a.sets[rid].keys, b.sets[rid].keys)
    assert not np.array_equal(a.sets[rid].keys, c.sets[rid].keys)


def test_expand_shares_with_the_runner_up() -> None:
    regions, cfg, _, rng = _setup(2)
    # points on the great circle between regions 0 and 1, beyond both cores: p2 is material
    a, b = regions.center[0], regions.center[1]
    mid = (a + b) / np.linalg.norm(a + b)
    X = np.repeat(mid[None], 1, axis=0).astype(np.float32)
    wide = replace(regions, radius=np.full(3, math.radians(60.0)))
    result = edit_regions(wide, X, cfg, period=1, keys=np.array([42]))
    assert result.decisions.action[0] == Action.EXPAND
    sets = region_training_sets(result, cfg, RHO, seed=0)
    k1, k2 = int(result.decisions.k1[0]), int(result.decisions.k2[0])
    assert {k1, k2} == {0, 1}
    share = sets.sets[k2]
    assert share.keys[share.source == SampleSource.SHARE].tolist() == [42]
    p1, p2 = result.decisions.p1[0], result.decisions.p2[0]
    np.testing.assert_allclose(
        share.weights[share.source == SampleSource.SHARE], 0.25 * p2 / (p1 + p2), rtol=1e-6
    )


def test_grown_region_trains_on_its_pool_members() -> None:
    regions, cfg, mus, rng = _setup(3)
    X = vonmises_fisher(mus[3], 500.0).rvs(80, random_state=rng).astype(np.float32)
    result = edit_regions(regions, X, cfg, period=1, keys=20_000 + np.arange(80))
    sets = region_training_sets(result, cfg, RHO, seed=0)
    assert result.added == (3,) and 3 in sets.affected
    new = sets.sets[3]
    assert sorted(new.keys.tolist()) == list(range(20_000, 20_080))
    assert np.all(new.source == SampleSource.NEW) and np.all(new.weights == 1.0)


def test_no_replay_at_ratio_zero() -> None:
    regions, cfg, mus, rng = _setup()
    X = vonmises_fisher(mus[0], 200.0).rvs(60, random_state=rng).astype(np.float32)
    result = edit_regions(regions, X, cfg, period=1, keys=10_000 + np.arange(60))
    with_replay = region_training_sets(result, cfg, RHO, seed=3)
    without = region_training_sets(result, cfg, 0.0, seed=3)
    assert without.affected == with_replay.affected
    for rid, s in without.sets.items():
        assert not np.any(s.source == SampleSource.REPLAY)
        kept = with_replay.sets[rid].source != SampleSource.REPLAY
        np.testing.assert_array_equal(s.keys, with_replay.sets[rid].keys[kept])
    rid = with_replay.affected[0]
    assert np.any(with_replay.sets[rid].source == SampleSource.REPLAY)
