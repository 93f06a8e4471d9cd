"""`raie`: region-aware incremental editing as an update method, and its ablations (DESIGN §4).

The benchmark's face of the one period step in `raie_core.update` (the nightly flow's tasks
call the same functions): setup encodes the setup windows with the frozen base and fits the
regions on `setup_sample`'s rows; each update encodes the new windows, `plan_period`s and
`train_period`s in memory, fetching replay windows by sample key from the windows it has
kept. Sample keys are `sample_keys(code, n)` with the setup's code 0 and each update's code
(the period index, or the caller's period code in `update_period`). scores: `route` each
context and score it through its region's adapter, the frozen base outside every band.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from raie_core.adapters import RegionAdapters, adapter_name
from raie_core.backbones import encode_array
from raie_core.backbones.base import Backbone
from raie_core.baselines.base import MethodConfig
from raie_core.errors import RaieStateError
from raie_core.evaluation import SETUP_CODE, sample_keys, windows_by_key
from raie_core.protocol import Windows
from raie_core.recent import recent_step
from raie_core.regions import Regions, route
from raie_core.scoring import RoutedScores, routed_scores
from raie_core.update import (
    PeriodPlan,
    fit_setup,
    plan_period,
    setup_sample,
    shared_ratio,
    shared_training_set,
    train_period,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodRecord:
    """What one RAIE update did: decision counts, live regions, regions retrained, and those
    whose new adapter serves (promoted, or every one without promotion, or adopted: a copy of
    the recent step's adapter, `raie_core.recent`)."""

    period: int
    counts: dict[str, int]
    live_regions: int
    affected: tuple[int, ...]
    kept: tuple[int, ...] = ()
    adopted: tuple[int, ...] = ()


class RegionAwareEditing:
    """`raie`: a shared adapter plus promoted region adapters, routed inference with fallback
    to the shared adapter (`raie_core.sharing`; the paper variant is the `raie-paper` ablation)."""

    name = "raie"

    def __init__(self, backbone: Backbone, config: MethodConfig) -> None:
        self.backbone = backbone
        self.config = config
        self.bank = RegionAdapters(backbone, config.adapters)
        self.regions: Regions | None = None
        self.windows: dict[int, Windows] = {}
        self.history: list[PeriodRecord] = []

    def encode(self, context: np.ndarray) -> np.ndarray:
        """(n, L) contexts -> (n, d) float32 unit routing keys (frozen base)."""
        return encode_array(self.backbone, context, batch_size=self.config.score_batch)

    def fetch(self, keys: np.ndarray) -> Windows:
        """The kept windows named by (m,) int64 sample keys, in key order."""
        return windows_by_key(keys, self.windows.__getitem__)

    def setup(self, old: Windows, seed: int) -> None:
        """Fit the setup regions on the frozen base's keys of (a sample of) the setup windows."""
        self.windows[SETUP_CODE] = old
        rows = setup_sample(len(old), self.config.regions, seed)
        keys = sample_keys(SETUP_CODE, len(old))[rows]
        X = self.encode(old.context[rows])
        self.regions = fit_setup(X, keys, self.config.regions, seed)
        self.history.append(PeriodRecord(0, {}, int(self.regions.live.sum()), ()))

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Edit the regions with ``new`` and retrain the affected regions' adapters."""
        self.update_period(new, len(self.history), seed)

    def update_period(self, new: Windows, code: int, seed: int) -> PeriodPlan:
        """`update` with the period's sample-key code given (the nightly flow's codes)."""
        if self.regions is None:
            raise RaieStateError("raie.update called before setup")
        if code in self.windows:
            raise RaieStateError(f"period code {code} was already applied")
        self.windows[code] = new
        trained = {int(r) for r in self.regions.ids if adapter_name(int(r)) in self.bank}
        X = self.encode(new.context)
        plan = plan_period(
            self.regions,
            X,
            sample_keys(code, len(new)),
            self.config.regions,
            self.config.adapters,
            len(self.history),
            trained,
            seed,
        )
        adapters = self.config.adapters
        shared = None  # the paper's variant trains no shared adapter: no replay sample drawn
        if adapters.sharing.shared:
            seen = Windows.concat([self.windows[c] for c in sorted(self.windows) if c != code])
            shared = shared_training_set(new, seen, shared_ratio(adapters), seed)
        update = train_period(self.bank, plan, shared, self.fetch, seed)
        self.regions = plan.edit.regions
        adopted: tuple[int, ...] = ()
        if adapters.sharing.recent:
            routes = route(self.regions, X, self.config.regions).region
            adopted = recent_step(self.bank, new, routes, seed).adopted
        kept = tuple(sorted(set(update.kept) | set(adopted)))
        live = int(plan.edit.regions.live.sum())
        counts = plan.edit.counts()
        record = PeriodRecord(len(self.history), counts, live, plan.affected, kept, adopted)
        self.history.append(record)
        return plan

    def routes(self, context: np.ndarray) -> np.ndarray:
        """(n,) int64 region per row (-1 = base), by `route` (fallback per the config)."""
        if self.regions is None:
            raise RaieStateError("raie.scores called before setup")
        return route(self.regions, self.encode(context), self.config.regions).region

    def routed(self, context: np.ndarray) -> RoutedScores:
        """Scores of each row through its region's adapter, and the region that served it
        (-1 = the frozen base: outside every band, or a region without an adapter)."""
        return routed_scores(self.bank, context, self.routes(context), self.config.score_batch)

    def scores(self, context: np.ndarray) -> torch.Tensor:
        return self.routed(context).scores
