"""edit_regions: the drift scenarios of issue 3, gating by hand, order invariance, errors."""

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import vonmises_fisher

from raie_core.errors import RaieConfigError
from raie_core.regions import (
    Action,
    RegionConfig,
    RegionStatus,
    edit_regions,
    fit_regions,
    load_regions,
    route,
    save_regions,
)

DIM, KAPPA = 64, 200.0


def _world(seed: int = 0, sizes: tuple[int, ...] = (300, 300, 300), kappa: float = KAPPA):
    """Fitted regions on planted vMF clusters plus a spare, far direction for new clusters."""
    rng = np.random.default_rng(seed)
    mus = rng.standard_normal((len(sizes) + 1, DIM))
    mus /= np.linalg.norm(mus, axis=1, keepdims=True)
    X = np.vstack(
        [
            vonmises_fisher(m, kappa).rvs(n, random_state=rng)
            for m, n in zip(mus[: len(sizes)], sizes, strict=True)
        ]
    )
    cfg = RegionConfig(n_regions=len(sizes))
    regions = fit_regions(X.astype(np.float32), cfg, seed=0, keys=np.arange(X.shape[0]))
    return regions, cfg, mus, rng


def _ring(center: np.ndarray, angle: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors at exactly `angle` radians from center, in random directions."""
    u = rng.standard_normal((n, center.size))
    u -= (u @ center)[:, None] * center
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return (math.cos(angle) * center + math.sin(angle) * u).astype(np.float32)


def _deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def test_hand_worked_gating_on_the_circle() -> None:
    pts = np.radians([0.0, 10.0, 90.0, 100.0])
    X = np.stack([np.cos(pts), np.sin(pts)], axis=1).astype(np.float32)
    cfg = RegionConfig(n_regions=2)
    regions = fit_regions(X, cfg, seed=0)  # centers at 5 and 95 deg, R = 5 deg each
    # core = 5 * 1.06 = 5.3 deg, band = 5 * 1.25 = 6.25 deg around 5 deg
    probe = np.radians([5.0 + 5.2, 5.0 - 6.0, 5.0 + 20.0])
    Y = np.stack([np.cos(probe), np.sin(probe)], axis=1).astype(np.float32)
    result = edit_regions(regions, Y, cfg, period=1, keys=np.array([10, 11, 12]))
    first = int(regions.ids[np.argmax(regions.center @ np.array([1.0, 0.0]))])
    assert result.decisions.action.tolist() == [Action.UPDATE, Action.EXPAND, Action.ADD]
    assert result.decisions.k1[:2].tolist() == [first, first]
    assert result.decisions.weight.tolist() == [1.0, 0.25, 0.0]
    row = regions.row(first)
    # R grows to the 0.9-quantile of this period's joined angles {5.2, 6.0}: 5.2 + 0.9 * 0.8
    assert np.degrees(result.regions.radius[row]) == pytest.approx(5.92, abs=1e-3)
    assert result.regions.count[row] == pytest.approx(2 + 1 + 0.25)
    assert result.regions.pool_keys.tolist() == [12]
    assert result.regions.touched[row] == 1


def test_a_in_distribution_samples_update_and_add_nothing() -> None:
    regions, cfg, mus, rng = _world(seed=1)
    X = np.vstack([vonmises_fisher(m, KAPPA).rvs(400, random_state=rng) for m in mus[:3]])
    result = edit_regions(
        regions, X.astype(np.float32), cfg, period=1, keys=10_000 + np.arange(1200)
    )
    counts = result.decisions.counts()
    assert counts[Action.UPDATE] >= 0.95 * 1200
    assert counts[Action.ADD] == 0 and result.added == () and result.regions.ids.size == 3


def test_b_just_outside_the_radius_expands_that_region() -> None:
    regions, cfg, _, rng = _world(seed=2)
    row = 0
    X = _ring(regions.center[row], regions.radius[row] * 1.15, 40, rng)
    result = edit_regions(regions, X, cfg, period=1, keys=5000 + np.arange(40))
    assert result.decisions.counts()[Action.EXPAND] == 40
    assert np.all(result.decisions.k1 == regions.ids[row])
    grown = result.regions.radius[row]
    assert grown > regions.radius[row]
    assert grown == pytest.approx(regions.radius[row] * 1.15, rel=1e-3)
    np.testing.assert_array_equal(result.regions.radius[1:], regions.radius[1:])
    assert result.added == () and result.regions.pool_keys.size == 0


def test_c_new_cluster_becomes_exactly_one_region() -> None:
    regions, cfg, mus, rng = _world(seed=3)
    X = vonmises_fisher(mus[3], 500.0).rvs(100, random_state=rng).astype(np.float32)
    assert X.shape[0] >= cfg.pool_min
    result = edit_regions(regions, X, cfg, period=1, keys=7000 + np.arange(100))
    assert result.decisions.counts()[Action.ADD] == 100
    assert result.added == (3,) and result.regions.next_id == 4
    new = result.regions.row(3)
    assert _deg(result.regions.center[new], mus[3]) < 5.0
    assert np.all(_deg(result.regions.center[:3], regions.center[:3]) < 1.0)
    assert result.regions.created[new] == 1 and result.regions.pool_keys.size == 0
    assert sorted(result.grown_keys.tolist()) == list(range(7000, 7100))
    assert route(result.regions, X, cfg).region.tolist().count(3) >= 95


def test_d_regions_three_degrees_apart_merge_with_lineage() -> None:
    regions, cfg, _, rng = _world(seed=4)
    c0 = regions.center[0]
    moved = _ring(c0, math.radians(3.0), 1, rng)[0].astype(np.float64)
    center, prior = regions.center.copy(), regions.prior.copy()
    resultant = regions.resultant.copy()
    center[1], prior[1] = moved, moved
    resultant[1] = moved * np.linalg.norm(regions.resultant[1])
    close = replace(regions, center=center, prior=prior, resultant=resultant)
    keep = 0 if regions.count[0] >= regions.count[1] else 1
    X = vonmises_fisher(regions.center[2], KAPPA).rvs(20, random_state=rng).astype(np.float32)
    result = edit_regions(close, X, cfg, period=1, keys=9000 + np.arange(20))
    drop = 1 - keep
    assert result.merged == ((drop, keep),)
    assert result.regions.status[drop] == RegionStatus.RETIRED
    assert result.regions.merged_into[drop] == keep and result.regions.resolve(drop) == keep
    assert result.regions.count[keep] == pytest.approx(close.count[0] + close.count[1])
    assert result.regions.weight[drop] == 0.0
    assert result.regions.live_ids.tolist() == sorted({keep, 2})
    union = set(close.reservoir(0).tolist()) | set(close.reservoir(1).tolist())
    assert set(result.regions.reservoir(keep).tolist()) == union  # 600 keys < reservoir_size
    assert result.regions.reservoir(drop).size == 0


def test_e_starved_region_retires_and_stays_loadable(tmp_path) -> None:
    regions, cfg, mus, rng = _world(seed=5, sizes=(600, 600, 15))
    assert regions.weight[2] < cfg.retire_max_weight
    for period in range(1, cfg.retire_after + 1):
        X = vonmises_fisher(mus[0], KAPPA).rvs(30, random_state=rng).astype(np.float32)
        result = edit_regions(regions, X, cfg, period=period, keys=period * 1000 + np.arange(30))
        regions = result.regions
        assert (result.retired == (2,)) == (period == cfg.retire_after)
    assert regions.status[2] == RegionStatus.RETIRED and regions.merged_into[2] == -1
    assert regions.live_ids.tolist() == [0, 1]
    loaded = load_regions(save_regions(regions, tmp_path / "regions"))
    assert loaded.status[2] == RegionStatus.RETIRED and loaded.count[2] == regions.count[2]
    assert route(loaded, regions.center[2:3].astype(np.float32), cfg).region[0] != 2


def test_decisions_and_statistics_are_invariant_to_row_order() -> None:
    regions, cfg, mus, rng = _world(seed=6)
    X = np.vstack(
        [
            vonmises_fisher(mus[0], KAPPA).rvs(200, random_state=rng),
            _ring(regions.center[1], regions.radius[1] * 1.1, 30, rng),
            vonmises_fisher(mus[3], 400.0).rvs(60, random_state=rng),
        ]
    ).astype(np.float32)
    keys = 100_000 + np.arange(X.shape[0])
    perm = rng.permutation(X.shape[0])
    a = edit_regions(regions, X, cfg, period=1, keys=keys)
    b = edit_regions(regions, X[perm], cfg, period=1, keys=keys[perm])
    np.testing.assert_array_equal(a.decisions.action[perm], b.decisions.action)
    np.testing.assert_array_equal(a.decisions.k1[perm], b.decisions.k1)
    assert a.added == b.added
    for name in ("resultant", "count", "center", "kappa", "radius", "spread"):
        np.testing.assert_allclose(
            getattr(a.regions, name), getattr(b.regions, name), rtol=1e-6, atol=1e-9
        )
    for name in ("reservoir_region", "reservoir_keys", "pool_keys", "status"):
        np.testing.assert_array_equal(getattr(a.regions, name), getattr(b.regions, name))


def test_pool_is_bounded_and_drops_the_oldest_first() -> None:
    regions, _, mus, rng = _world(seed=7)
    cfg = RegionConfig(n_regions=3, pool_min=48, pool_max=60)
    far = [_ring(mus[3], 1.2, 40, rng), _ring(-mus[3], 1.2, 40, rng)]  # scattered: no cluster
    first = edit_regions(regions, far[0], cfg, period=1, keys=np.arange(40) + 1000)
    second = edit_regions(first.regions, far[1], cfg, period=2, keys=np.arange(40) + 2000)
    pool = second.regions
    assert second.added == () and pool.pool_keys.size == 60
    assert np.count_nonzero(pool.pool_period == 2) == 40
    assert np.count_nonzero(pool.pool_period == 1) == 20


def test_input_regions_are_not_modified_and_counts_add_up() -> None:
    regions, cfg, mus, rng = _world(seed=8)
    before = regions.resultant.copy()
    X = vonmises_fisher(mus[1], KAPPA).rvs(50, random_state=rng).astype(np.float32)
    result = edit_regions(regions, X, cfg, period=3, keys=np.arange(50) + 500)
    np.testing.assert_array_equal(regions.resultant, before)
    assert sum(result.decisions.counts().values()) == 50 and result.regions.period == 3
    assert result.counts()["added"] == 0 and result.previous is regions


def test_edit_error_paths() -> None:
    regions, cfg, _, _ = _world(seed=9)
    later = replace(regions, period=5)
    X = regions.center[:2].astype(np.float32)
    with pytest.raises(RaieConfigError, match="period=4 should be >= the last edited period 5"):
        edit_regions(later, X, cfg, period=4)
    with pytest.raises(RaieConfigError, match="period='2024-01-01' should be an integer"):
        edit_regions(regions, X, cfg, period="2024-01-01")  # type: ignore[arg-type]
    with pytest.raises(RaieConfigError, match="keys should be unique"):
        edit_regions(regions, X, cfg, period=1, keys=np.array([3, 3]))
    with pytest.raises(RaieConfigError, match="X should be 2-D"):
        edit_regions(regions, X[0], cfg, period=1)


def test_empty_batch_changes_only_the_period() -> None:
    regions, cfg, _, _ = _world(seed=10)
    result = edit_regions(regions, np.zeros((0, DIM), dtype=np.float32), cfg, period=2)
    assert sum(result.decisions.counts().values()) == 0 and result.regions.period == 2
    np.testing.assert_array_equal(result.regions.center, regions.center)
