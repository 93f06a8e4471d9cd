"""raie_core.sharing: the promotion test on hand-made per-window losses, and its config."""

import numpy as np
import pytest

from raie_core.errors import RaieConfigError
from raie_core.sharing import SharingConfig, promotion

USERS = np.repeat(np.arange(20), 3)  # 20 users, 3 validation windows each


def test_a_resolved_loss_drop_is_promoted() -> None:
    shared = np.full(60, 5.0)
    local = shared - 0.2 + 0.05 * np.sin(np.arange(60))  # lower on every user
    one = promotion(local, shared, USERS, SharingConfig(), seed=0)
    assert one.promoted and one.high < 0 and one.rows == 60
    assert one.mean == pytest.approx(float(np.mean(local - shared)))


def test_a_tie_or_a_loss_is_not_promoted() -> None:
    shared = np.full(60, 5.0)
    noise = np.where(USERS % 2 == 0, -0.3, 0.3)  # half the users gain, half lose
    tie = promotion(shared + noise, shared, USERS, SharingConfig(), seed=0)
    assert not tie.promoted and tie.low < 0 < tie.high
    worse = promotion(shared + 0.1, shared, USERS, SharingConfig(), seed=0)
    assert not worse.promoted and worse.low > 0


def test_no_validation_rows_is_not_promoted() -> None:
    none = promotion(np.zeros(0), np.zeros(0), np.zeros(0), SharingConfig(), seed=0)
    assert not none.promoted and none.rows == 0


def test_the_level_decides_borderline_gains() -> None:
    shared = np.full(60, 5.0)
    local = shared + np.where(USERS < 13, -0.1, 0.1)  # 13 of 20 users gain
    loose = promotion(local, shared, USERS, SharingConfig(level=0.5), seed=0)
    strict = promotion(local, shared, USERS, SharingConfig(level=0.99), seed=0)
    assert loose.promoted and not strict.promoted
    assert promotion(local, shared, USERS, SharingConfig(level=0.5), seed=0) == loose  # seeded


def test_config_errors() -> None:
    with pytest.raises(RaieConfigError, match="sharing.promote=true needs sharing.shared=true"):
        SharingConfig(shared=False)
    with pytest.raises(RaieConfigError, match="sharing.level=1.0 should be in"):
        SharingConfig(level=1.0)
    with pytest.raises(RaieConfigError, match="sharing.draws=0"):
        SharingConfig(draws=0)
    assert not SharingConfig(shared=False, promote=False).shared  # the paper's variant
