"""route and save/load: fallback to the base, never dropping rows, exact round trip."""

from dataclasses import fields, replace

import numpy as np
import pytest
from scipy.stats import vonmises_fisher

from raie_core.errors import RaieStateError
from raie_core.regions import (
    RegionConfig,
    Regions,
    RegionStatus,
    RouteReason,
    edit_regions,
    fit_regions,
    load_regions,
    route,
    save_regions,
)


def _regions():
    rng = np.random.default_rng(0)
    mus = np.eye(32)[:3]
    X = np.vstack([vonmises_fisher(m, 150.0).rvs(200, random_state=rng) for m in mus])
    cfg = RegionConfig(n_regions=2)
    return fit_regions(X[:400].astype(np.float32), cfg, seed=0), X.astype(np.float32), cfg


def test_route_inside_band_and_fallback_to_base() -> None:
    regions, X, cfg = _regions()
    r = route(regions, X, cfg)
    assert len(r) == 600 and r.region.dtype == np.int64
    assert np.all(r.region[:400] >= 0) and np.all(r.reason[:400] == RouteReason.INSIDE_BAND)
    # the third cluster lies ~90 deg from both regions: base (-1), outside every band
    assert np.all(r.region[400:] == -1) and np.all(r.reason[400:] == RouteReason.OUTSIDE_EVERY_BAND)


def test_route_without_fallback_sends_outside_rows_to_their_top1_region() -> None:
    regions, X, cfg = _regions()
    with_base = route(regions, X, cfg)
    r = route(regions, X, replace(cfg, fallback=False))
    assert r.scores is not None and len(r) == 600
    np.testing.assert_array_equal(r.region[400:], r.scores.k1[400:])  # outside: top-1 region
    np.testing.assert_array_equal(r.region[:400], with_base.region[:400])  # inside: unchanged
    assert np.all(r.region[400:] >= 0) and set(r.region[400:].tolist()) <= {0, 1}
    # the reason still says the row was outside every band
    np.testing.assert_array_equal(r.reason, with_base.reason)


def test_route_without_fallback_and_no_live_region_still_goes_to_base() -> None:
    regions, X, cfg = _regions()
    dead = replace(regions, status=np.full(2, RegionStatus.RETIRED, dtype=np.int8))
    r = route(dead, X, replace(cfg, fallback=False))
    assert np.all(r.region == -1) and np.all(r.reason == RouteReason.NO_LIVE_REGION)


def test_route_with_no_live_region_sends_everything_to_base() -> None:
    regions, X, cfg = _regions()
    dead = replace(regions, status=np.full(2, RegionStatus.RETIRED, dtype=np.int8))
    r = route(dead, X, cfg)
    assert r.scores is None and np.all(r.region == -1)
    assert np.all(r.reason == RouteReason.NO_LIVE_REGION)


def test_save_load_round_trip_is_exact(tmp_path) -> None:
    regions, X, cfg = _regions()
    edited = edit_regions(regions, X[400:], cfg, period=2, keys=np.arange(1000, 1200)).regions
    loaded = load_regions(save_regions(edited, tmp_path / "r"))
    for f in fields(Regions):
        a, b = getattr(edited, f.name), getattr(loaded, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b
    assert loaded.pool_keys.size == edited.pool_keys.size


def test_load_error_paths(tmp_path) -> None:
    with pytest.raises(RaieStateError, match="regions.json is missing"):
        load_regions(tmp_path)
    regions, _, _ = _regions()
    folder = save_regions(regions, tmp_path / "r")
    meta = (
        (folder / "regions.json").read_text().replace('"format_version": 1', '"format_version": 9')
    )
    (folder / "regions.json").write_text(meta)
    with pytest.raises(RaieStateError, match="format_version=9, expected 1"):
        load_regions(folder)
