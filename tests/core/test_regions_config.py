"""RegionConfig validation: every rule raises RaieConfigError naming the field and value."""

import dataclasses
import inspect
import math
import re

import pytest

from raie_core.adapters import AdapterConfig
from raie_core.errors import RaieConfigError
from raie_core.regions import RegionConfig


def test_defaults_are_valid_and_documented() -> None:
    cfg = RegionConfig()
    assert cfg.n_regions == 5 and cfg.radius_quantile == 0.9
    assert cfg.max_fit_windows == 20000 and cfg.fallback is True
    # rho moved to the adapters: one replay ratio for every adapter (reference 0.7)
    assert AdapterConfig().replay_ratio == 0.7 and not hasattr(cfg, "replay_ratio")
    source = inspect.getsource(RegionConfig)
    for f in dataclasses.fields(cfg):
        assert re.search(rf"\n    {f.name}: [^\n]+\n    \"\"\"\S", source), (
            f"{f.name} lacks a docstring"
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_regions": 1}, "n_regions=1 should be >= 2"),
        ({"n_regions": 2.5}, "n_regions=2.5 should be an integer"),
        ({"k_min": 1}, "k_min=1 should be >= 2"),
        ({"k_min": 6, "k_max": 5}, "k_max=5 should be >= k_min=6"),
        ({"n_init": 0}, "n_init=0 should be >= 1"),
        ({"chunk_size": 0}, "chunk_size=0 should be >= 1"),
        ({"pool_min": 8}, "pool_min=8 should be >= min_cluster_size=16"),
        ({"pool_max": 10}, "pool_max=10 should be >= pool_min=48"),
        ({"radius_quantile": 0.0}, "radius_quantile=0.0 should be in (0, 1]"),
        ({"kappa_ema": 1.5}, "kappa_ema=1.5 should be in (0, 1]"),
        ({"w_exp": True}, "w_exp=True should be a number"),
        ({"max_fit_windows": 0}, "max_fit_windows=0 should be >= 1"),
        ({"fallback": 0}, "fallback=0 should be a boolean"),
        ({"radius_max": 4.0}, "radius_max=4.0 should be in (radius_min="),
        ({"kappa_max": 0.5}, "kappa_max=0.5 should be > kappa_min=1.0 > 0"),
        ({"eps_core": 1.0}, "eps_core=1.0 should be in (-1, 1)"),
        ({"eps_band": 0.05}, "eps_band=0.05 should be > -eps_core=0.06"),
        ({"merge_angle": 0.0}, "merge_angle=0.0 should be > 0"),
        ({"n0": math.inf}, "n0=inf should be finite"),
        ({"min_train_samples": "16"}, "min_train_samples='16' should be an integer"),
    ],
)
def test_invalid_values_raise_with_field_and_value(changes: dict, message: str) -> None:
    with pytest.raises(RaieConfigError) as info:
        RegionConfig(**changes)
    assert message in str(info.value)


def test_none_n_regions_means_bic_search() -> None:
    assert RegionConfig(n_regions=None).n_regions is None
