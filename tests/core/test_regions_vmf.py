"""vMF pieces against scipy: log-normaliser, Bessel fallback at large d, kappa estimate."""

import math

import numpy as np
import pytest
from scipy.special import ive
from scipy.stats import vonmises_fisher

from raie_core.regions import (
    RegionConfig,
    estimate_kappa,
    fit_regions,
    log_bessel_iv,
    log_normalizer,
    thresholds,
)
from raie_core.regions.vmf import _log_iv_debye


@pytest.mark.parametrize(("dim", "kappa"), [(3, 2.0), (16, 30.0), (64, 200.0), (128, 1000.0)])
def test_log_normalizer_matches_scipy_logpdf(dim: int, kappa: float) -> None:
    mu = np.zeros(dim)
    mu[0] = 1.0
    x = np.zeros(dim)
    x[1] = 1.0  # x . mu = 0, so logpdf(x) is log C_d(kappa) itself
    expected = vonmises_fisher(mu, kappa).logpdf(x)
    assert log_normalizer(np.array([kappa]), dim)[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_log_normalizer_closed_form_in_three_dimensions() -> None:
    kappa = np.array([0.5, 5.0, 50.0])
    expected = np.log(kappa / (4 * np.pi * np.sinh(kappa)))
    np.testing.assert_allclose(log_normalizer(kappa, 3), expected, rtol=1e-12)


@pytest.mark.parametrize("dim", [64, 768, 4096])
def test_large_kappa_and_dim_stay_finite_and_monotone(dim: int) -> None:
    kappa = np.array([1.0, 10.0, 1e2, 1e3, 1e4, 1e5, 1e6])
    value = log_normalizer(kappa, dim)
    assert np.all(np.isfinite(value))
    # the density at the mode, log C + kappa, grows with kappa
    assert np.all(np.diff(value + kappa) > 0)


def test_debye_agrees_with_ive_where_both_work() -> None:
    order = 2047.0
    kappa = np.array([5e3, 1e4, 1e5, 1e6])
    direct = np.log(ive(order, kappa)) + kappa
    np.testing.assert_allclose(_log_iv_debye(order, kappa), direct, rtol=1e-9)
    assert ive(order, 1.0) == 0.0  # underflows, so the fallback is needed ...
    assert np.isfinite(log_bessel_iv(order, np.array([1.0]))[0])  # ... and used
    # I_v(x) ~ (x/2)^v / Gamma(v + 1) for x << v
    small = order * math.log(0.5) - math.lgamma(order + 1)
    assert log_bessel_iv(order, np.array([1.0]))[0] == pytest.approx(small, rel=1e-6)


def test_thresholds_match_reference_values() -> None:
    tau = thresholds(np.array([1.0, 100.0, 1e3]), 0.5, 0.1)
    np.testing.assert_allclose(tau, 1 / (1 + np.exp(-(0.5 + 0.1 * np.log([1.0, 100.0, 1e3])))))
    assert tau.round(2).tolist() == [0.62, 0.72, 0.77]


def test_estimate_kappa_hand_worked() -> None:
    # S = (3, 0), n = 4, C0 = (1, 0), n0 = 1 -> rbar = 4/5, kappa = 0.8 (2 - 0.64) / 0.36
    center, kappa = estimate_kappa(
        np.array([[3.0, 0.0]]), np.array([4.0]), np.array([[1.0, 0.0]]), 1.0, 1.0, 1e6
    )
    np.testing.assert_allclose(center, [[1.0, 0.0]])
    assert kappa[0] == pytest.approx(0.8 * 1.36 / 0.36)


@pytest.mark.parametrize(("dim", "kappa"), [(16, 20.0), (64, 100.0), (64, 500.0), (128, 300.0)])
def test_fit_recovers_known_kappa_within_ten_percent(dim: int, kappa: float) -> None:
    rng = np.random.default_rng(7)
    mus = np.eye(dim)[:2]
    X = np.vstack([vonmises_fisher(mu, kappa).rvs(2000, random_state=rng) for mu in mus])
    regions = fit_regions(X.astype(np.float32), RegionConfig(n_regions=2), seed=0)
    np.testing.assert_allclose(regions.kappa, kappa, rtol=0.10)
