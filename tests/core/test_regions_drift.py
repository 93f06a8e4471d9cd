"""score_drift: exact posterior against a direct reference, top-2, bands, chunking, errors."""

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import vonmises_fisher

from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.regions import (
    RegionConfig,
    RegionStatus,
    fit_regions,
    log_normalizer,
    log_posterior,
    score_drift,
)


def _fixture(dim: int = 32, kappa: float = 60.0, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    mus = rng.standard_normal((k, dim))
    mus /= np.linalg.norm(mus, axis=1, keepdims=True)
    X = np.vstack([vonmises_fisher(m, kappa).rvs(200, random_state=rng) for m in mus]).astype(
        np.float32
    )
    cfg = RegionConfig(n_regions=k)
    return fit_regions(X, cfg, seed=0), X, cfg


def test_posterior_equals_direct_logsumexp_reference() -> None:
    regions, X, cfg = _fixture()
    X = X[::7]
    ref = np.stack(
        [
            np.log(regions.weight[j])
            + vonmises_fisher(regions.center[j], regions.kappa[j]).logpdf(X)
            for j in range(3)
        ],
        axis=1,
    )
    ref -= logsumexp(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(log_posterior(regions, X), ref, atol=1e-4)
    scores = score_drift(regions, X, cfg)
    p_ref = np.exp(ref)
    top = np.sort(p_ref, axis=1)
    np.testing.assert_allclose(scores.p1, top[:, -1], atol=1e-4)
    np.testing.assert_allclose(scores.p2, top[:, -2], atol=1e-4)
    assert np.array_equal(scores.k1, regions.ids[np.argmax(p_ref, axis=1)])
    np.testing.assert_allclose(scores.margin, scores.p1 - scores.p2, atol=1e-7)


def test_posterior_is_not_saturated_between_regions() -> None:
    # A point exactly between two equal regions has p1 = p2 = 1/2 (a beta = 8 softmax of
    # kappa-scaled scores would still give 1/2 here, but not elsewhere; see the next check).
    regions, _, cfg = _fixture(k=2)
    c = regions.center
    mid = (c[0] + c[1]) / np.linalg.norm(c[0] + c[1])
    same = replace(regions, kappa=np.full(2, 60.0), weight=np.full(2, 0.5))
    s = score_drift(same, mid[None].astype(np.float32), cfg)
    assert s.p1[0] == pytest.approx(0.5, abs=1e-3) and s.p2[0] == pytest.approx(0.5, abs=1e-3)


def test_angles_tau_and_band() -> None:
    regions, X, cfg = _fixture()
    s = score_drift(regions, X, cfg)
    rows = np.searchsorted(regions.ids, s.k1)
    cos = np.einsum("ij,ij->i", X.astype(np.float64), regions.center[rows])
    np.testing.assert_allclose(s.angle1, np.arccos(np.clip(cos, -1, 1)), atol=1e-3)
    np.testing.assert_allclose(s.tau, 1 / (1 + np.exp(-(0.5 + 0.1 * np.log(regions.kappa)))))
    inside = s.band >= 0
    band_rows = np.searchsorted(regions.ids, s.band[inside])
    assert np.all(s.band_angle[inside] <= regions.radius[band_rows] * 1.25 + 1e-5)
    assert np.all(np.isnan(s.band_p[~inside]))


def test_chunking_does_not_change_scores() -> None:
    regions, X, cfg = _fixture()
    whole = score_drift(regions, X, cfg)
    chunked = score_drift(regions, X, replace(cfg, chunk_size=37))
    for name in ("k1", "k2", "band"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(chunked, name))
    for name in ("p1", "p2", "band_p", "angle1"):  # BLAS blocking differs by chunk: float noise
        np.testing.assert_allclose(getattr(whole, name), getattr(chunked, name), rtol=1e-4)


@pytest.mark.parametrize("kappa", [1.0, 1e3, 1e6])
def test_large_dimension_and_kappa_give_finite_posteriors(kappa: float) -> None:
    dim = 4096
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    regions = fit_regions(X, RegionConfig(n_regions=2, n_init=1), seed=0)
    regions = replace(regions, kappa=np.array([kappa, 2 * kappa]))
    s = score_drift(regions, X, RegionConfig())
    assert np.all(np.isfinite(s.p1)) and np.all(np.isfinite(s.p2))
    np.testing.assert_allclose(np.exp(log_posterior(regions, X)).sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(log_normalizer(regions.kappa, dim)))
    assert math.isfinite(float(np.sum(s.angle1)))


def test_retired_regions_are_not_scored() -> None:
    regions, X, cfg = _fixture()
    status = regions.status.copy()
    status[1] = RegionStatus.RETIRED
    s = score_drift(replace(regions, status=status), X, cfg)
    assert s.columns.tolist() == [0, 2] and not np.any(s.k1 == 1) and not np.any(s.band == 1)


def test_error_paths() -> None:
    regions, X, cfg = _fixture()
    with pytest.raises(RaieStateError, match="X has d=16 but the regions have d=32"):
        score_drift(regions, np.eye(16, dtype=np.float32), cfg)
    with pytest.raises(RaieConfigError, match="unit-norm"):
        score_drift(regions, 2 * X, cfg)
    dead = replace(regions, status=np.full(3, RegionStatus.RETIRED, dtype=np.int8))
    with pytest.raises(RaieStateError, match="no live region"):
        score_drift(dead, X, cfg)
