"""Spherical k-means++ and fit_regions: a hand-worked case, planted clusters, BIC, properties."""

import math

import numpy as np
import pytest
from scipy.stats import vonmises_fisher
from sklearn.metrics import adjusted_rand_score

from raie_core.errors import RaieConfigError
from raie_core.regions import RegionConfig, RegionStatus, fit_regions, spherical_kmeans


def planted(
    k: int, dim: int, kappa: float, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k vMF clusters of n points around random unit centers; returns (centers, X, labels)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, dim))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    X = np.vstack([vonmises_fisher(c, kappa).rvs(n, random_state=rng) for c in centers])
    return centers, X.astype(np.float32), np.repeat(np.arange(k), n)


def _on_circle(degrees: list[float]) -> np.ndarray:
    rad = np.radians(degrees)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def test_four_point_hand_worked_case() -> None:
    X = _on_circle([0.0, 10.0, 90.0, 100.0])
    cfg = RegionConfig(n_regions=2)
    regions = fit_regions(X, cfg, seed=3)
    order = np.argsort(np.degrees(np.arctan2(regions.center[:, 1], regions.center[:, 0])))
    angles = np.degrees(np.arctan2(regions.center[order, 1], regions.center[order, 0]))
    np.testing.assert_allclose(angles, [5.0, 95.0], atol=1e-4)
    np.testing.assert_allclose(regions.count, [2.0, 2.0])
    np.testing.assert_allclose(regions.weight, [0.5, 0.5])
    np.testing.assert_allclose(np.degrees(regions.radius), [5.0, 5.0], atol=1e-4)
    # |S| = 2 cos 5deg, prior C0 = center, n0 = 5: rbar = (2 cos 5deg + 5) / 7, d = 2
    rbar = (2 * math.cos(math.radians(5.0)) + 5.0) / 7.0
    np.testing.assert_allclose(regions.kappa, rbar * (2 - rbar**2) / (1 - rbar**2), rtol=1e-5)
    np.testing.assert_allclose(regions.spread, math.radians(5.0), rtol=1e-5)
    assert regions.ids.tolist() == [0, 1] and regions.next_id == 2
    assert regions.status.tolist() == [RegionStatus.LIVE] * 2
    assert sorted(regions.reservoir(int(regions.ids[order[0]])).tolist()) == [0, 1]


@pytest.mark.parametrize("k", [2, 5, 8])
def test_planted_clusters_recovered_exactly(k: int) -> None:
    _, X, truth = planted(k, 64, 200.0, 150, seed=k)
    km = spherical_kmeans(X, k, n_init=4, max_iter=100, seed=0)
    assert adjusted_rand_score(truth, km.labels) == 1.0
    np.testing.assert_allclose(np.linalg.norm(km.centers, axis=1), 1.0, atol=1e-12)


def test_bic_chooses_the_planted_k() -> None:
    _, X, truth = planted(5, 64, 200.0, 120, seed=11)
    regions = fit_regions(X, RegionConfig(n_regions=None, k_min=2, k_max=8, n_init=2), seed=0)
    assert regions.ids.size == 5


def test_fit_is_deterministic_under_a_seed() -> None:
    _, X, _ = planted(4, 32, 50.0, 100, seed=1)
    a = fit_regions(X, RegionConfig(n_regions=4), seed=5)
    b = fit_regions(X, RegionConfig(n_regions=4), seed=5)
    for name in ("center", "kappa", "radius", "reservoir_keys"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_regions_are_read_only_and_unit() -> None:
    _, X, _ = planted(3, 16, 80.0, 50, seed=2)
    regions = fit_regions(X, RegionConfig(n_regions=3), seed=0)
    np.testing.assert_allclose(np.linalg.norm(regions.center, axis=1), 1.0, atol=1e-12)
    with pytest.raises(ValueError):
        regions.center[0, 0] = 0.0


def test_reservoir_is_bounded_and_keys_are_the_callers() -> None:
    _, X, _ = planted(2, 16, 80.0, 300, seed=4)
    keys = np.arange(600, dtype=np.int64) * 10 + 7
    regions = fit_regions(X, RegionConfig(n_regions=2, reservoir_size=100), seed=0, keys=keys)
    for rid in regions.ids:
        held = regions.reservoir(int(rid))
        assert held.size == 100 and np.all(np.isin(held, keys))


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.ones(4, dtype=np.float32), "X should be 2-D (n, d), got shape (4,)"),
        (np.array([[1.0, 0.0], [np.nan, 0.0]], dtype=np.float32), "non-finite values in rows [1]"),
        (np.array([[1.0, 0.0], [2.0, 0.0]], dtype=np.float32), "(row 1 has norm 2)"),
        (np.array([[1, 0], [0, 1]]), "X should be float32, got dtype int64"),
        ([[1.0, 0.0]], "X should be a numpy array, got list"),
        (np.ones((3, 1), dtype=np.float32), "X should have d >= 2 columns"),
        (_on_circle([0.0, 1.0]), "n_samples=2 should be >= n_regions=5"),
    ],
)
def test_fit_error_paths(X: object, message: str) -> None:
    with pytest.raises(RaieConfigError) as info:
        fit_regions(X, RegionConfig(), seed=0)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_keys_must_match_and_be_unique() -> None:
    X = _on_circle([0.0, 10.0, 90.0, 100.0])
    with pytest.raises(RaieConfigError, match="keys should be unique"):
        fit_regions(X, RegionConfig(n_regions=2), seed=0, keys=np.array([1, 1, 2, 3]))
    with pytest.raises(RaieConfigError, match=r"keys should be \(4,\) integers"):
        fit_regions(X, RegionConfig(n_regions=2), seed=0, keys=np.array([1, 2]))
