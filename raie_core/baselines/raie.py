"""`raie`: region-aware incremental editing as an update method, and its ablations (DESIGN §4).

setup: encode the setup windows with the frozen base and fit the regions. update: encode the
new windows, `edit_regions`, build `region_training_sets` (replay from the regions'
reservoirs of earlier windows), train only the affected regions' adapters (continuing their
previous version, or from the global adapter with warm_start=GLOBAL). scores: `route` each
context and score it through its region's adapter, the frozen base outside every band.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from raie_core.adapters import (
    GLOBAL,
    AdapterTrainingSet,
    RegionAdapters,
    RoutedScores,
    WarmStart,
    adapter_name,
    routed_scores,
    train_adapter,
)
from raie_core.backbones import encode_array
from raie_core.backbones.base import Backbone
from raie_core.baselines.base import MethodConfig, training_set
from raie_core.baselines.finetune import continue_or_zero
from raie_core.errors import RaieStateError
from raie_core.protocol import Windows
from raie_core.regions import (
    Regions,
    SampleSource,
    edit_regions,
    fit_regions,
    region_training_sets,
    route,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodRecord:
    """What one RAIE update did: decision counts, live regions, regions retrained."""

    period: int
    counts: dict[str, int]
    live_regions: int
    affected: tuple[int, ...]


class RegionAwareEditing:
    """`raie`: one LoRA per preference region, routed inference with base fallback."""

    name = "raie"

    def __init__(self, backbone: Backbone, config: MethodConfig) -> None:
        self.backbone = backbone
        self.config = config
        self.bank = RegionAdapters(backbone, config.adapter_config())
        self.regions: Regions | None = None
        self.context = np.zeros((0, 0), dtype=np.int64)
        self.target = np.zeros(0, dtype=np.int64)
        self.timestamp = np.zeros(0, dtype=np.int64)
        self.history: list[PeriodRecord] = []

    def encode(self, context: np.ndarray) -> np.ndarray:
        """(n, L) contexts -> (n, d) float32 unit routing keys (frozen base)."""
        return encode_array(self.backbone, context, batch_size=self.config.score_batch)

    def _store(self, windows: Windows) -> np.ndarray:
        """Keep windows for replay by key; returns their (n,) int64 keys."""
        keys = np.arange(len(self.target), len(self.target) + len(windows), dtype=np.int64)
        ctx = windows.context.astype(np.int64)
        self.context = ctx if len(self.target) == 0 else np.concatenate([self.context, ctx])
        self.target = np.concatenate([self.target, windows.target.astype(np.int64)])
        self.timestamp = np.concatenate([self.timestamp, windows.timestamp.astype(np.int64)])
        return keys

    def setup(self, old: Windows, seed: int) -> None:
        """Fit the setup regions on the frozen base's keys of the setup windows."""
        keys = self._store(old)
        self.regions = fit_regions(self.encode(old.context), self.config.region, seed, keys=keys)
        live = int(self.regions.live.sum())
        self.history.append(PeriodRecord(0, {}, live, ()))

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Edit the regions with ``new`` and retrain the affected regions' adapters."""
        if self.regions is None:
            raise RaieStateError("raie.update called before setup")
        period = len(self.history)
        keys = self._store(new)
        result = edit_regions(
            self.regions, self.encode(new.context), self.config.region, period, keys=keys
        )
        self.regions = result.regions
        sets = region_training_sets(result, self.config.region, seed)
        if self.config.raie_warm_start is WarmStart.GLOBAL:
            train_adapter(
                self.bank,
                GLOBAL,
                training_set(new),
                seed,
                warm_start=continue_or_zero(self.bank, GLOBAL),
            )
        for rid in sets.affected:
            s = sets.sets[rid]
            data = AdapterTrainingSet(
                context=self.context[s.keys],
                target=self.target[s.keys],
                weight=s.weights,
                replay=s.source == SampleSource.REPLAY,
                timestamp=self.timestamp[s.keys],
            )
            warm, source = self._warm_start(rid)
            train_adapter(
                self.bank, adapter_name(rid), data, seed + rid, warm_start=warm, source=source
            )
        live = int(result.regions.live.sum())
        self.history.append(PeriodRecord(period, result.counts(), live, sets.affected))
        logger.info("raie period %d: %s, retrained %s", period, result.counts(), sets.affected)

    def _warm_start(self, rid: int) -> tuple[WarmStart, str | None]:
        """GLOBAL (paper); else PREVIOUS, PARENT (nearest live region with an adapter), ZERO."""
        if self.config.raie_warm_start is WarmStart.GLOBAL:
            return WarmStart.GLOBAL, GLOBAL
        if adapter_name(rid) in self.bank:
            return WarmStart.PREVIOUS, None
        regions = self.regions
        assert regions is not None
        own = regions.center[regions.row(rid)]
        candidates = [
            int(o) for o in regions.live_ids if o != rid and adapter_name(int(o)) in self.bank
        ]
        if not candidates:
            return WarmStart.ZERO, None
        cosines = [float(regions.center[regions.row(o)] @ own) for o in candidates]
        return WarmStart.PARENT, adapter_name(candidates[int(np.argmax(cosines))])

    def routes(self, context: np.ndarray) -> np.ndarray:
        """(n,) int64 region per row (-1 = base); top-1 region everywhere without fallback."""
        if self.regions is None:
            raise RaieStateError("raie.scores called before setup")
        r = route(self.regions, self.encode(context), self.config.region)
        if self.config.raie_fallback or r.scores is None:
            return r.region
        return np.where(r.region >= 0, r.region, r.scores.k1).astype(np.int64)

    def routed(self, context: np.ndarray) -> RoutedScores:
        """Scores of each row through its region's adapter, and the region that served it
        (-1 = the frozen base: outside every band, or a region without an adapter)."""
        return routed_scores(self.bank, context, self.routes(context), self.config.score_batch)

    def scores(self, context: np.ndarray) -> torch.Tensor:
        return self.routed(context).scores
