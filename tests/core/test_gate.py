"""The statistical quality gate on hand-made paired rank tables (rank 0 = NDCG 1, rank >= k
= NDCG 0, rank 1 = 1/log2(3) ≈ 0.631)."""

import numpy as np
import pytest

from raie_core.errors import RaieConfigError
from raie_core.gate import GateConfig, compare, decide, paired_summary, recency_mask

CONFIG = GateConfig(tolerance=0.02, draws=500, seed=0)
USERS = np.repeat(np.arange(10), 3)  # 10 users x 3 windows


def test_a_resolved_drop_fails() -> None:
    champion = np.zeros(30, dtype=np.int64)  # every target first: NDCG 1
    candidate = np.full(30, 50, dtype=np.int64)  # every target out of the top 10: NDCG 0
    c = compare("retention", candidate, champion, USERS, CONFIG)
    assert (c.candidate, c.reference, c.diff) == (0.0, 1.0, -1.0)
    assert c.low == c.high == -1.0 and c.margin == pytest.approx(-0.02)
    assert c.resolved_drop and (c.windows, c.users) == (30, 10)
    decision = decide([c])
    assert not decision.passed
    assert decision.reason.startswith("resolvably worse beyond tolerance: retention -1.0000")


def test_a_tie_passes() -> None:
    champion = np.tile([0, 1, 50], 10)
    c = compare("recency", champion.copy(), champion, USERS, CONFIG)
    assert c.diff == 0.0 and c.low == c.high == 0.0 and not c.resolved_drop
    # a noisy tie: half the users gain a hit, the other half lose one
    noisy = champion.copy()
    noisy[USERS < 5] = 0
    noisy[(USERS >= 5) & (champion == 0)] = 50
    n = compare("recency", noisy, champion, USERS, CONFIG)
    assert n.low < 0 < n.high and not n.resolved_drop
    assert decide([c, n]).passed


def test_an_improvement_passes() -> None:
    champion = np.full(30, 50, dtype=np.int64)
    candidate = np.where(USERS % 2 == 0, 0, 50)
    c = compare("retention", candidate, champion, USERS, CONFIG)
    assert c.diff == pytest.approx(0.5) and c.low > 0 and not c.resolved_drop
    decision = decide([c])
    assert decision.passed and decision.reason.startswith("no resolved drop beyond tolerance")


def test_a_drop_within_the_tolerated_effect_passes() -> None:
    # every window loses 1 - 1/log2(3) of a hit on a third of the windows: -0.123 exactly
    champion = np.zeros(30, dtype=np.int64)
    candidate = np.tile([1, 0, 0], 10)
    tight = compare("anchor", candidate, champion, USERS, CONFIG)
    assert tight.low == tight.high == pytest.approx(-(1 - 1 / np.log2(3)) / 3)
    assert tight.resolved_drop  # resolved and beyond 2 %
    loose = compare("anchor", candidate, champion, USERS, GateConfig(tolerance=0.2, draws=500))
    assert not loose.resolved_drop  # resolved, but within a 20 % effect


def test_decision_orders_checks_and_records_intervals() -> None:
    champion = np.zeros(30, dtype=np.int64)
    bad = compare("recency", np.full(30, 50), champion, USERS, CONFIG)
    good = compare("retention", champion, champion, USERS, CONFIG)
    decision = decide([bad, good])
    assert [c.check for c in decision.comparisons] == ["retention", "recency"]
    record = decision.to_record()
    assert record["passed"] is False and "recency -1.0000" in record["reason"]
    assert record["retention"]["low"] == 0.0 and record["recency"]["high"] == -1.0
    assert decide([]).passed is False


def test_compare_is_seeded_and_checks_shapes() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 20, 30), rng.integers(0, 20, 30)
    assert compare("retention", a, b, USERS, CONFIG) == compare("retention", a, b, USERS, CONFIG)
    with pytest.raises(RaieConfigError, match="should be the same"):
        compare("retention", a, b[:5], USERS, CONFIG)
    with pytest.raises(RaieConfigError, match="no windows"):
        compare("retention", a[:0], b[:0], USERS[:0], CONFIG)


def test_recency_mask_holds_out_whole_users() -> None:
    users = np.array([5, 5, 7, 9, 9, 9, 11, 12, 13, 14])
    mask = recency_mask(users, 0.34, seed=1)
    out = np.unique(users[mask])
    assert out.size == 2  # floor(0.34 * 7 users)
    assert not set(out) & set(users[~mask])  # a user is wholly in or wholly out
    assert np.array_equal(mask, recency_mask(users, 0.34, seed=1))
    assert not recency_mask(users, 0.0, seed=1).any()


def test_paired_summary_names_both_means() -> None:
    s = paired_summary(np.zeros(30), np.full(30, 50), USERS, CONFIG)
    assert (s["a"], s["b"], s["diff"], s["low"], s["high"]) == (1.0, 0.0, 1.0, 1.0, 1.0)
    assert (s["windows"], s["users"]) == (30, 10)


@pytest.mark.parametrize(
    ("field", "value"),
    [("tolerance", -0.1), ("k", 0), ("level", 1.0), ("draws", 5), ("recency_share", 1.0)],
)
def test_config_names_the_bad_field(field: str, value: float) -> None:
    with pytest.raises(RaieConfigError, match=f"gate.{field}="):
        GateConfig(**{field: value})
