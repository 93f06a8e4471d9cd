"""Benchmark summaries: mean ± std rows and paired per-seed differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raie_core import report
from raie_core.bootstrap import user_interval
from raie_core.errors import RaieConfigError
from raie_core.metrics import ndcg_gains

F = "T_NDCG@10"


def _runs(**values: list[float]) -> dict[str, list[dict[str, float]]]:
    return {m: [{F: v} for v in vs] for m, vs in values.items()}


def test_paired_difference_is_per_seed_not_a_difference_of_noisy_means() -> None:
    # seed effects dominate each method's spread, but raie is ahead by 0.001 in every seed
    runs = _runs(base=[0.050, 0.060, 0.040], raie=[0.051, 0.061, 0.041])
    d = report.paired_difference(runs["raie"], runs["base"], F)
    assert d["mean"] == pytest.approx(0.001)
    assert d["se"] == pytest.approx(0.0, abs=1e-12)
    assert (d["ahead"], d["seeds"]) == (3, 3)
    assert report.summarize(runs)[1][F]["std"] == pytest.approx(0.01)


def test_paired_difference_standard_error_and_seeds_ahead() -> None:
    d = report.paired_difference([{F: 3.0}, {F: 1.0}, {F: 2.0}], [{F: 1.0}, {F: 2.0}, {F: 2.0}], F)
    # differences 2, -1, 0: mean 1/3, sample std sqrt(7/3), se = std / sqrt(3)
    assert d["mean"] == pytest.approx(1 / 3)
    assert d["se"] == pytest.approx(math.sqrt(7 / 3) / math.sqrt(3))
    assert d["ahead"] == 1
    assert report.paired_difference([{F: 1.0}], [{F: 0.5}], F)["se"] == 0.0
    with pytest.raises(RaieConfigError, match="same seeds, got 2 and 1"):
        report.paired_difference([{F: 1.0}, {F: 2.0}], [{F: 1.0}], F)


def test_paired_rows_compare_with_base_and_raie_and_format() -> None:
    runs = _runs(base=[0.05, 0.06], lora=[0.052, 0.061], raie=[0.051, 0.063])
    rows = {r["method"]: r for r in report.paired_rows(runs, F, reference="base", subject="raie")}
    assert set(rows["base"]) == {"method", "raie - method"}
    assert set(rows["raie"]) == {"method", f"{F} - base"}
    assert rows["lora"][f"{F} - base"]["mean"] == pytest.approx(0.0015)
    assert rows["lora"]["raie - method"]["mean"] == pytest.approx(0.0005)
    assert rows["lora"]["raie - method"]["ahead"] == 1
    table = report.format_table(list(rows.values()), [f"{F} - base", "raie - method"])
    assert "+0.0015 ± 0.0005 (2/2)" in table and "+0.0005 ± 0.0015 (1/2)" in table
    tie = report.paired_difference([{F: 0.3}, {F: 0.3}], [{F: 0.1 + 0.2}, {F: 0.1 + 0.2}], F)
    assert tie["mean"] < 0  # -5.6e-17: float noise, shown as a tie
    assert report.format_table([{"method": "m", "d": tie}], ["d"]).endswith(
        "+0.0000 ± 0.0000 (0/2)"
    )
    lone = report.paired_rows(_runs(lora=[0.05]), F, reference="base", subject="raie")
    assert lone == [{"method": "lora"}]


def test_user_interval_resamples_users_not_windows() -> None:
    # user 1 gains 0.02 on each of 3 windows, user 2 loses 0.01 on 1 window, user 3 gains 0
    diff = np.array([0.02, 0.02, 0.02, -0.01, 0.0])
    users = np.array([1, 1, 1, 2, 3])
    interval = user_interval(diff, users, draws=4000, seed=1)
    # one draw = 3 users with replacement; its mean is a ratio of user sums to user counts,
    # so the extremes are all-user-2 (-0.01) and all-user-1 (+0.02)
    assert -0.01 <= interval["low"] < diff.mean() < interval["high"] <= 0.02
    assert interval == user_interval(diff, users, draws=4000, seed=1)  # seeded
    # the same differences spread over 5 users give a narrower interval than over 3
    spread = user_interval(diff, np.arange(5), draws=4000, seed=1)
    assert spread["high"] - spread["low"] < interval["high"] - interval["low"]
    same = user_interval(np.full(4, 0.003), np.array([1, 1, 2, 3]), draws=100, seed=0)
    assert same["low"] == pytest.approx(0.003) and same["high"] == pytest.approx(0.003)
    with pytest.raises(RaieConfigError, match="should be equal, non-empty shapes"):
        user_interval(diff, users[:3])


def test_paired_rows_with_windows_add_a_user_interval_around_the_mean() -> None:
    # 2 seeds x 4 windows of 2 users; the window means are the run fields
    base = np.array([[0.0, 1.0, 0.0, 0.5], [0.5, 0.0, 0.0, 0.5]])
    raie = np.array([[0.5, 1.0, 0.0, 0.5], [0.5, 0.5, 0.0, 0.5]])
    runs = {m: [{F: float(v.mean())} for v in w] for m, w in (("base", base), ("raie", raie))}
    users = np.array([7, 7, 9, 9])
    rows = report.paired_rows(runs, F, "base", "raie", {"base": base, "raie": raie}, users)
    cell = rows[1][f"{F} - base"]
    assert cell["mean"] == pytest.approx(0.125)
    assert cell["low"] <= cell["mean"] <= cell["high"]
    assert (
        report.format_table(rows, [f"{F} - base"])
        .splitlines()[-1]
        .endswith(f"(2/2) [{cell['low']:+.4f}, {cell['high']:+.4f}]")
    )


def test_region_rows_score_every_method_on_the_windows_each_region_served() -> None:
    route = np.array([3, -1, 3, 0, 3])
    ranks = {"base": np.array([0, 1, 20, 2, 0]), "raie": np.array([1, 1, 0, 0, 9])}
    gains = {m: ndcg_gains(r, 10).numpy() for m, r in ranks.items()}
    rows = report.region_rows(route, gains, "NDCG@10")
    assert [(r["region"], r["windows"]) for r in rows] == [(-1, 1), (0, 1), (3, 3)]
    by_region = {r["region"]: r["NDCG@10"] for r in rows}
    # NDCG@10 of one target at 0-based rank r is 1 / log2(r + 2), 0 from rank 10 on
    assert by_region[-1] == {
        "base": pytest.approx(1 / math.log2(3)),
        "raie": pytest.approx(1 / math.log2(3)),
    }
    assert by_region[0]["base"] == pytest.approx(0.5) and by_region[0]["raie"] == 1.0
    assert by_region[3]["base"] == pytest.approx((1 + 0 + 1) / 3)
    assert by_region[3]["raie"] == pytest.approx((1 / math.log2(3) + 1 + 1 / math.log2(11)) / 3)


def test_cohort_mask_compares_user_ids_as_text() -> None:
    mask = report.cohort_mask(np.array([196, 7, 196, 22]), {"196", "22", "999"})
    assert mask.tolist() == [True, False, True, True]
    assert report.cohort_mask(np.array(["a", "b"]), {"b"}).tolist() == [False, True]


def test_cohort_rows_split_a_hand_made_rank_table() -> None:
    # 2 seeds x 4 windows; windows 0, 1 are cohort user a's, 2 and 3 users b's and c's
    ranks = {
        "base": np.array([[0, 20, 1, 0], [0, 20, 1, 0]]),
        "raie": np.array([[0, 0, 1, 20], [1, 0, 1, 20]]),
    }
    gains = {m: np.stack([ndcg_gains(s, 10).numpy() for s in r]) for m, r in ranks.items()}
    users = np.array(["a", "a", "b", "c"])
    split = report.cohort_rows(gains, users, report.cohort_mask(users, {"a"}), F, "base", "raie")
    g1 = 1 / math.log2(3)  # NDCG@10 of rank 1
    cohort, others = split["cohort"], split["others"]
    assert (cohort["windows"], cohort["users"], others["windows"], others["users"]) == (2, 1, 2, 2)
    base, raie = cohort["rows"]
    assert (base["method"], raie["method"]) == ("base", "raie")
    # cohort: base 0.5 in both seeds; raie 1.0 and (g1 + 1) / 2; one user: the interval is a point
    assert base[F] == {"mean": 0.5, "std": 0.0, "low": 0.5, "high": 0.5}
    mean = (1.0 + (g1 + 1) / 2) / 2
    assert raie[F]["mean"] == pytest.approx(mean)
    assert raie[F]["std"] == pytest.approx((1.0 - (g1 + 1) / 2) / math.sqrt(2))
    assert raie[F]["low"] == pytest.approx(mean) == raie[F]["high"]
    diff = raie[f"{F} - base"]
    assert diff["mean"] == pytest.approx(mean - 0.5) and (diff["ahead"], diff["seeds"]) == (2, 2)
    assert diff["se"] == pytest.approx((0.5 - (g1 + 1) / 2 + 0.5) / 2)
    assert base["raie - method"]["mean"] == pytest.approx(mean - 0.5)
    # others: base (g1 + 1) / 2, raie g1 / 2 in both seeds; users b (0) and c (-1) resampled
    rows = {r["method"]: r for r in others["rows"]}
    assert rows["base"][F]["mean"] == pytest.approx((g1 + 1) / 2)
    assert rows["raie"][F]["mean"] == pytest.approx(g1 / 2)
    cell = rows["raie"][f"{F} - base"]
    assert cell["mean"] == pytest.approx(-0.5) and cell["se"] == 0.0 and cell["ahead"] == 0
    assert (cell["low"], cell["high"]) == (-1.0, 0.0)
    table = report.format_table(cohort["rows"], [F, f"{F} - base", "raie - method"])
    assert "0.5000 ± 0.0000 [0.5000, 0.5000]" in table
    empty = report.cohort_rows(gains, users, np.zeros(4, dtype=bool), F, "base", "raie")
    assert empty["cohort"] == {"windows": 0, "users": 0, "rows": []}
    assert len(empty["others"]["rows"]) == 2
    with pytest.raises(RaieConfigError, match=r"cohort \(3,\) and users \(4,\)"):
        report.cohort_rows(gains, users, np.ones(3, dtype=bool), F, "base", "raie")


def test_cohort_routes_share_of_each_region_and_of_the_base() -> None:
    route = np.array([-1, 0, 0, 2, -1, 2])
    cohort = np.array([True, True, True, False, False, True])
    routes = report.cohort_routes(route, cohort)
    assert routes == {
        "windows": 6,
        "cohort_windows": 4,
        "cohort_share": 4 / 6,
        "to_base": 1,
        "base_share": 0.25,
        "others_base_share": 0.5,
        "regions": [
            {"region": -1, "windows": 2, "cohort": 1, "share": 0.5},
            {"region": 0, "windows": 2, "cohort": 2, "share": 1.0},
            {"region": 2, "windows": 2, "cohort": 1, "share": 0.5},
        ],
    }
    assert sum(r["cohort"] for r in routes["regions"]) == routes["cohort_windows"]
    none = report.cohort_routes(route, np.zeros(6, dtype=bool))
    assert none["base_share"] is None and none["others_base_share"] == pytest.approx(2 / 6)
