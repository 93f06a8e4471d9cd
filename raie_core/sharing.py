"""Shared + local adapters: what every user's drift teaches, and what only a region's does.

The paper's RAIE (DESIGN §4.7) trains one adapter per affected region from its own adapter
or its nearest neighbour's, and serves the frozen base wherever no region adapter exists.
Measured (issue 16), its regions are right but its adapters learn less than one global
adapter: each sees a slice of the data, and early-stops on a handful of rows. So the update
is split in two (`SharingConfig`): a **shared** step learns every period's new windows (the
drift all users share) and serves every window no region claims; each affected region's
adapter starts from it and learns the region's own windows (the local drift), and is
**promoted** only when it is resolvably better than the shared step's model on the region's
own held-out windows (`promotion`). A region whose adapter is not promoted is served by the
shared step's model, so a region edit can never make a region worse than the global update
it started from, up to the test's error. The shared step is by default a full fine-tune of
the bank's base (`SharedStep.FULL`, `raie_core.rebase`: a shared LoRA adapter learnt less
than `full_ft` on ML-1M), or a shared LoRA adapter (`SharedStep.ADAPTER`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from raie_core.bootstrap import user_interval
from raie_core.errors import RaieConfigError

SHARED_KEY = -1
"""The shared adapter's key where adapters are keyed by region id (a bank version's adapter
map, its folder, lineage): no region has a negative id."""


class SharedStep(Enum):
    """What RAIE's shared step trains on a period's new windows (`SharingConfig.step`)."""

    ADAPTER = "adapter"
    """A shared LoRA adapter (`adapters.GLOBAL`) on the frozen base: the `replay` baseline's
    update; region adapters start as copies of it."""
    FULL = "full"
    """Every weight of the bank's base (a per-period base, `raie_core.rebase`): the `full_ft`
    baseline's update; region adapters start at zero as residuals on it."""


class Criterion(Enum):
    """The per-window quantity the promotion test compares (`SharingConfig.criterion`)."""

    LOSS = "loss"
    """Full-softmax cross-entropy of the target (lower is better)."""
    NDCG = "ndcg"
    """NDCG@k of the target among all items, context masked (the metric the bars use)."""


@dataclass(frozen=True)
class SharingConfig:
    """How RAIE splits each period's update between a shared step and region adapters.

    Every number below is V NDCG@10 (`raie bench quality --validate`: updates on early F,
    scored on the late-F block V; never T), one seed unless said, issue 16's runs.
    shared: run the shared step (``step``) on all of a period's new windows before the
    regions; every retrained region adapter starts from its result, and windows routed to
    no region adapter are scored by it instead of the setup base. False: the paper's rule
    (own or nearest region's adapter, base fallback).
    promote: keep a retrained region adapter only when its per-window cost (``criterion``)
    on the region's validation rows (the latest new rows, those early stopping saw) is below
    the fallback's (the shared adapter, or the period's base) by a user-bootstrap interval
    that excludes 0; otherwise the region is served by the fallback. Needs ``shared``.
    False keeps every retrained adapter.
    level: central level of that interval (promote when its upper end < 0). 0.9 with the
    full step: ML-1M (paper preset, backbone 5 epochs) 0.1209 at 0.9 (2 regions promoted),
    0.1203 at 0.5 (4 promoted; `full_ft` 0.1212). With the adapter step 0.5 had won
    (ML-100K, 3 seeds: 0.0524 at 0.5, 0.0521 at 0.9; drift ML-100K Sci-Fi 0.2 seed 11:
    0.0535 vs 0.0524), kept by the `raie-adapter-step` ablation.
    draws: bootstrap draws of the interval (seeded with the region's training seed).
    step: what the shared step trains (`SharedStep`). FULL, every weight of the bank's base
    (a per-period base the region adapters sit on as zero-start residuals): ML-1M 0.1233
    (with replay; 0.1209 without) vs the shared LoRA adapter's 0.1186 (r 8), 0.1188 (all
    item rows), 0.1199 (all rows, r 32 or 64; `replay` 0.1186–0.1199, `full_ft` 0.1212,
    base 0.1147); self-made drift (ML-100K table, 25 % of post-onset users to Romance,
    seed 5, backbone 20 epochs; without replay, level 0.9 for both) 0.0376 vs 0.0352 (cohort
    0.0147 vs 0.0152, other users 0.0448 vs 0.0414; base 0.0443).
    full_lr: AdamW learning rate of the FULL step (it moves every base weight; a LoRA-sized
    lr wrecks a 2-layer model): the `full_ft` baseline's lr, so the step is its update.
    replay: the shared step's rows add windows replayed at `AdapterConfig.replay_ratio` from
    all seen before the period, setup and earlier periods (the `replay` and `full_replay`
    baselines' set); False: the period's new windows only (`full_ft`'s set).
    True: ML-1M, FULL, level 0.9: 0.1233 with replay, 0.1209 without (`full_ft` 0.1212);
    ML-100K (backbone 20 epochs) 0.0495 with, 0.0491 without (`full_ft`, `replay` and base
    0.0488, `raie-adapter-step` 0.0490); the Romance drift above 0.0384 with, 0.0376 without
    (it trades the cohort, 0.0127 vs 0.0147, for the other users, 0.0464 vs 0.0448). The
    pool was the setup alone until issue 16's streaming runs; in the streaming preset's
    validation (periods before t^F, P NDCG@10, 1 seed) the whole pool gave ML-100K 0.0692 vs
    0.0656 (`full_replay` 0.0695, `lora` 0.0680, base 0.0648) and the Sci-Fi drift of
    ``recent`` below 0.0692 vs 0.0638 (cohort 0.0826 vs 0.0716, other users 0.0658 vs
    0.0619; `full_replay` 0.0686, `lora` 0.0615).
    region_replay: each affected region's rows add windows replayed from its reservoir at
    `AdapterConfig.replay_ratio` (DESIGN §4.6); False: the region's new windows only, so its
    residual learns only what moved in the region (the shared step already replays).
    recent: after the regions, train one LoRA adapter on the period's new windows alone
    (zero start on the period's base) and let every live region adopt a copy of it where
    it is better than what serves the region by the same test (`raie_core.recent`).
    Self-made drift, validation V (ML-100K table, 20 % of post-onset users to Sci-Fi,
    seed 11, backbone 20 epochs, 3 seeds): 0.0510 with, 0.0453 without (base 0.0390,
    `lora` 0.0481, `full_replay` 0.0449); cohort 0.0770 vs 0.0421 (`lora` 0.0725), other
    users 0.0448 vs 0.0460 (`lora` 0.0423, base 0.0461); held-out S 0.0278 vs 0.0296 (base
    0.0292). 40 % to Action (onset 1998-01-01, seed 23): 0.0431 vs 0.0415 (`lora` 0.0439,
    `full_replay` 0.0399); cohort 0.0291 vs 0.0245 (`lora` 0.0310), others 0.0528 vs 0.0531.
    ML-100K without drift: no region adopted it (0.0488 both ways; base 0.0486). Level 0.5
    for this test instead of ``level``: 0.0514 and 0.0429, with more lost on the other users.
    Off by default until measured on ML-1M (where quality is decided).
    criterion: what promotion compares per validation window (`Criterion`): cross-entropy,
    or NDCG@``k`` (negated, so lower is better for both). Loss kept: with the full step on
    ML-1M, NDCG at level 0.5 promoted 1 region, 0.1208, loss at 0.9 0.1209.
    """

    shared: bool = True
    promote: bool = True
    level: float = 0.9
    draws: int = 1000
    step: SharedStep = SharedStep.FULL
    full_lr: float = 1e-4
    replay: bool = True
    region_replay: bool = True
    recent: bool = False
    criterion: Criterion = Criterion.LOSS
    k: int = 10

    def __post_init__(self) -> None:
        if self.promote and not self.shared:
            raise RaieConfigError("sharing.promote=true needs sharing.shared=true")
        if not 0.0 < self.level < 1.0:
            raise RaieConfigError(f"sharing.level={self.level} should be in (0, 1)")
        if self.draws < 1:
            raise RaieConfigError(f"sharing.draws={self.draws} should be >= 1")
        if self.k < 1:
            raise RaieConfigError(f"sharing.k={self.k} should be >= 1")
        if not (math.isfinite(self.full_lr) and self.full_lr > 0):
            raise RaieConfigError(f"sharing.full_lr={self.full_lr} should be > 0")

    @property
    def full(self) -> bool:
        """The shared step fine-tunes the base (`SharedStep.FULL`)."""
        return self.shared and self.step is SharedStep.FULL


@dataclass(frozen=True)
class Promotion:
    """One region adapter's promotion test: mean and interval of (region − shared) per-window
    cross-entropy over ``rows`` validation windows; promoted when ``high`` < 0."""

    promoted: bool
    mean: float
    low: float
    high: float
    rows: int


def promotion(
    local_loss: np.ndarray,
    shared_loss: np.ndarray,
    users: np.ndarray,
    config: SharingConfig,
    seed: int,
) -> Promotion:
    """Is the region adapter resolvably better than the shared one on the region's windows?

    local_loss, shared_loss: (n,) float per-window cost of the same validation windows
    under each adapter (cross-entropy, or negated NDCG@k: `criterion`); users: (n,) their users (the bootstrap's unit). No rows:
    not promoted (nothing shows the region adapter is better).
    """
    diff = np.asarray(local_loss, np.float64) - np.asarray(shared_loss, np.float64)
    if diff.size == 0:
        return Promotion(False, float("nan"), float("nan"), float("nan"), 0)
    cut = user_interval(diff, np.asarray(users), config.draws, seed, config.level)
    return Promotion(cut["high"] < 0.0, float(diff.mean()), cut["low"], cut["high"], diff.size)
