"""`tasks.windows.windows_before`: the flow's replay pool for the shared step, the same rows
`RegionAwareEditing.update_period` and `full_replay` draw from (setup, then earlier periods)."""

from datetime import date
from pathlib import Path

import numpy as np

from raie_core.data import Every, Period
from raie_core.evaluation import SETUP_CODE
from raie_core.protocol import Windows
from tasks.store import Store
from tasks.windows import PERIOD_WINDOWS, save_windows, window_path, windows_before


def _save(path: Path, tag: int, n: int) -> None:
    """n windows whose user ids all equal ``tag`` (so the pool's order can be read back)."""
    save_windows(
        Windows(np.zeros((n, 3), np.int64), np.ones(n, np.int64), np.full(n, tag), np.arange(n)),
        path,
    )


def test_pool_is_setup_then_every_earlier_period_oldest_first(tmp_path: Path) -> None:
    store = Store(tmp_path, "ml-100k")
    days = [Period(date(1997, 12, d), Every.WEEK) for d in (1, 8, 15, 22)]
    _save(window_path(store, SETUP_CODE), 0, 4)
    _save(window_path(store, days[2].code), 3, 2)  # written first: order is by period
    _save(store.root / "work" / days[0].key / PERIOD_WINDOWS, 1, 3)  # a home from before windows/
    _save(window_path(store, days[3].code), 4, 1)
    (store.root / "windows" / days[1].key).mkdir()  # a period with no window file yet
    assert windows_before(store, days[0].code).user.tolist() == [0] * 4
    assert windows_before(store, days[3].code).user.tolist() == [0] * 4 + [1] * 3 + [3] * 2
