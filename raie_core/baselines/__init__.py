"""Update strategies compared on the same backbone, budget and protocol (DESIGN §5).

`METHODS` maps a method name to its class; `ABLATIONS` maps an ablation name to the
`MethodConfig` change it makes to `raie`. `build_method(name, backbone, config)` builds either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from raie_core.backbones.base import Backbone
from raie_core.baselines.base import (
    BaseMethod,
    EbprConfig,
    MethodConfig,
    PopularityMethod,
    UpdateMethod,
    evaluate,
    window_ranks,
)
from raie_core.baselines.ebpr import EditingBPR, bpr_edit_loss, mine_edit_pairs
from raie_core.baselines.finetune import (
    FullFineTune,
    FullReplay,
    GlobalLoRA,
    LwFLoRA,
    ReplayLoRA,
    lwf_loss,
)
from raie_core.baselines.lsat import LongShortAdapters, fuse_logits
from raie_core.baselines.mole import MixtureOfLoRAExperts, balance_loss
from raie_core.baselines.raie import PeriodRecord, RegionAwareEditing
from raie_core.errors import RaieConfigError
from raie_core.sharing import SharedStep
from raie_core.update import replay_sample

METHODS: dict[str, Callable[[Backbone, MethodConfig], UpdateMethod]] = {
    "popularity": PopularityMethod,
    "base": BaseMethod,
    "full_ft": FullFineTune,
    "full_replay": FullReplay,
    "lora": GlobalLoRA,
    "replay": ReplayLoRA,
    "lwf": LwFLoRA,
    "lsat": LongShortAdapters,
    "mole": MixtureOfLoRAExperts,
    "ebpr": EditingBPR,
    "raie": RegionAwareEditing,
}

ADAPTER_STEP_LEVEL = 0.5
"""The promotion level chosen with the shared-adapter step (`raie-adapter-step`: the design
before issue 16's full step, exactly as it was the default)."""
NO_EXPAND_EPS = 1e-6
"""Core = band up to this margin, so every in-band sample updates (the no-Expand ablation)."""
NO_GROWTH_POOL = 10**7
"""pool_min = pool_max: the Add pool never reaches it, so no region is ever grown."""


def _region(config: MethodConfig, **changes: object) -> MethodConfig:
    return dataclasses.replace(config, regions=dataclasses.replace(config.regions, **changes))


def _no_expand(config: MethodConfig) -> MethodConfig:
    """Every in-band sample updates: core = band, tau and margin gates off."""
    band = config.regions.eps_band
    return _region(
        config, eps_core=-(band - NO_EXPAND_EPS), tau_a0=-50.0, tau_a1=0.0, delta_min=NO_EXPAND_EPS
    )


def _sharing(config: MethodConfig, **changes: object) -> MethodConfig:
    sharing = dataclasses.replace(config.adapters.sharing, **changes)
    return dataclasses.replace(
        config, adapters=dataclasses.replace(config.adapters, sharing=sharing)
    )


ABLATIONS: dict[str, Callable[[MethodConfig], MethodConfig]] = {
    "raie-paper": lambda c: _sharing(c, shared=False, promote=False),
    "raie-no-promote": lambda c: _sharing(c, promote=False),
    "raie-no-shared-replay": lambda c: _sharing(c, replay=False),
    "raie-no-region-replay": lambda c: _sharing(c, region_replay=False),
    "raie-recent": lambda c: _sharing(c, recent=True),
    "raie-adapter-step": lambda c: _sharing(
        c, step=SharedStep.ADAPTER, replay=True, level=ADAPTER_STEP_LEVEL
    ),
    "raie-no-expand": _no_expand,
    "raie-no-add": lambda c: _region(c, pool_min=NO_GROWTH_POOL, pool_max=NO_GROWTH_POOL),
    "raie-no-replay": lambda c: dataclasses.replace(
        c, adapters=dataclasses.replace(c.adapters, replay_ratio=0.0)
    ),
    "raie-no-fallback": lambda c: _region(c, fallback=False),
    "raie-k3": lambda c: _region(c, n_regions=3),
    "raie-k5": lambda c: _region(c, n_regions=5),
    "raie-k8": lambda c: _region(c, n_regions=8),
}


def method_names() -> list[str]:
    """Every name `build_method` accepts: methods, then ablations."""
    return [*METHODS, *ABLATIONS]


def build_method(name: str, backbone: Backbone, config: MethodConfig) -> UpdateMethod:
    """A fresh method ``name`` (a METHODS key or an ABLATIONS key) over ``backbone``."""
    if name in METHODS:
        return METHODS[name](backbone, config)
    if name in ABLATIONS:
        method = RegionAwareEditing(backbone, ABLATIONS[name](config))
        method.name = name
        return method
    raise RaieConfigError(f"method={name!r} should be one of {', '.join(method_names())}")


__all__ = [
    "ABLATIONS",
    "METHODS",
    "BaseMethod",
    "EbprConfig",
    "EditingBPR",
    "FullFineTune",
    "FullReplay",
    "GlobalLoRA",
    "LongShortAdapters",
    "LwFLoRA",
    "MethodConfig",
    "MixtureOfLoRAExperts",
    "PeriodRecord",
    "PopularityMethod",
    "RegionAwareEditing",
    "ReplayLoRA",
    "UpdateMethod",
    "balance_loss",
    "bpr_edit_loss",
    "build_method",
    "evaluate",
    "fuse_logits",
    "lwf_loss",
    "method_names",
    "mine_edit_pairs",
    "replay_sample",
    "window_ranks",
]
