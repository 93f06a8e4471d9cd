"""The recent step (issue 16): a region adopts what the period's new windows alone teach.

The shared step replays old windows, so it learns a drift that only some users share slowly;
one LoRA on the period's new windows alone (the `lora` baseline's update) learns it fast but
costs every other user (measured on self-made drift, `SharingConfig.recent`). The recent step
keeps both: after the shared step and the region adapters, it trains such an adapter
(`RECENT`, a zero-start residual on the period's base) once, and every live region whose own
held-out new windows it serves resolvably better than what serves the region now (its region
adapter, else the fallback) adopts a copy of it as its region adapter (`promotion`, the same
test as region adapters). Regions where preferences moved take the recent model; the others
keep theirs. The held-out windows are those early stopping saw (`AdapterTrainingSet.split`,
the latest new rows), routed by the edited regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raie_core.adapters import (
    AdapterTrainingSet,
    RegionAdapters,
    WarmStart,
    adapter_name,
    train_adapter,
)
from raie_core.protocol import Windows
from raie_core.scoring import fallback_name
from raie_core.sharing import Promotion, promotion
from raie_core.training import TrainResult
from raie_core.update import region_seed, window_costs

RECENT = "recent"
"""The recent adapter's name in a bank while the step runs (never stored under it)."""


@dataclass(frozen=True)
class RecentStep:
    """result: the recent adapter's training record; tests: region id -> its adoption test
    (regions with held-out rows only), ascending; adopted: the ids that took a copy."""

    result: TrainResult
    tests: dict[int, Promotion]

    @property
    def adopted(self) -> tuple[int, ...]:
        return tuple(rid for rid, test in self.tests.items() if test.promoted)


def recent_step(bank: RegionAdapters, new: Windows, routes: np.ndarray, seed: int) -> RecentStep:
    """Train `RECENT` on ``new`` (zero start), copy it into every region it resolvably beats.

    bank: the period's bank after the shared step and the region adapters (every live
    region's serving adapter, or none where the fallback serves it). routes: (n,) int64
    region of each row of ``new`` as served (`route`, -1 = the fallback). The region tests
    use `SharingConfig.criterion` and ``level``, seeded ``seed + region id``. `RECENT` is
    deleted before returning; adopting regions hold a copy under their own name.
    """
    data = AdapterTrainingSet.from_windows(new)
    result = train_adapter(bank, RECENT, data, seed, warm_start=WarmStart.ZERO)
    _, val = data.split(bank.config.train.val_fraction, seed)
    context, target, users, where = data.context[val], data.target[val], new.user[val], routes[val]
    recent = window_costs(bank, RECENT, context, target)
    tests: dict[int, Promotion] = {}
    for rid in np.unique(where[where >= 0]).tolist():
        rows = where == rid
        name = adapter_name(rid)
        now = name if name in bank else fallback_name(bank)
        now_cost = window_costs(bank, now, context[rows], target[rows])
        tests[rid] = promotion(
            recent[rows], now_cost, users[rows], bank.config.sharing, region_seed(seed, rid)
        )
        if tests[rid].promoted:  # replaces only this region's adapter, which no other test reads
            bank.add(name, WarmStart.PARENT, RECENT, region_seed(seed, rid))
    bank.delete(RECENT)
    return RecentStep(result, tests)
