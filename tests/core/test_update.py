"""raie_core.update's small pieces: the one warm-start rule, the setup sample, the plan.

(That the nightly flow and the bench's `raie` run the same step is tests/flows/test_one_raie.py.)
"""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import vonmises_fisher

from raie_core.adapters import AdapterConfig, RegionAdapters, WarmStart
from raie_core.backbones.seqrec import SeqRecConfig, build_seqrec
from raie_core.errors import RaieStateError
from raie_core.protocol import ItemVocab, Windows
from raie_core.regions import (
    RegionConfig,
    RegionStatus,
    SampleSource,
    edit_regions,
    fit_regions,
    region_training_sets,
)
from raie_core.sharing import SharedStep, SharingConfig
from raie_core.update import (
    PeriodPlan,
    RegionPlan,
    plan_period,
    region_seed,
    setup_sample,
    train_period,
    training_order,
    warm_start,
)

NO_WINDOWS = Windows(
    np.zeros((0, 4), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
)


def _four_regions():
    """Regions 0..3 with hand-set centers: 1 is 20 deg from 0, 2 is 50 deg, 3 is 90 deg."""
    rng = np.random.default_rng(0)
    X = vonmises_fisher(np.eye(8)[0], 50.0).rvs(40, random_state=rng).astype(np.float32)
    regions = fit_regions(X, RegionConfig(n_regions=4), seed=0)
    center = np.zeros((4, 8))
    for row, degrees in enumerate((0.0, 20.0, 50.0)):
        center[row, :2] = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    center[3, 2] = 1.0
    assert regions.ids.tolist() == [0, 1, 2, 3]
    return replace(regions, center=center)


@pytest.mark.parametrize(
    ("region", "trained", "expected"),
    [
        (0, {0, 2}, (WarmStart.PREVIOUS, 0)),  # own adapter first, even with others near
        (0, {1, 2, 3}, (WarmStart.PARENT, 1)),  # the nearest trained region (20 deg)
        (0, {2, 3}, (WarmStart.PARENT, 2)),  # 50 deg beats 90 deg
        (3, {0}, (WarmStart.PARENT, 0)),  # any trained live region, however far
        (0, set(), (WarmStart.ZERO, None)),
        (0, {7}, (WarmStart.ZERO, None)),  # an id that is no live region is no source
    ],
)
def test_warm_start_prefers_own_then_nearest_then_zero(
    region: int, trained: set[int], expected: tuple[WarmStart, int | None]
) -> None:
    assert warm_start(_four_regions(), region, trained) == expected


def test_warm_start_skips_retired_regions() -> None:
    regions = _four_regions()
    status = regions.status.copy()
    status[1] = RegionStatus.RETIRED
    retired = replace(regions, status=status)
    assert warm_start(retired, 0, {1, 2}) == (WarmStart.PARENT, 2)
    assert warm_start(retired, 0, {1}) == (WarmStart.ZERO, None)


def test_setup_sample_is_all_rows_or_a_seeded_sample() -> None:
    config = RegionConfig(max_fit_windows=5)
    assert setup_sample(5, config, seed=0).tolist() == [0, 1, 2, 3, 4]
    rows = setup_sample(50, config, seed=1)
    assert rows.dtype == np.int64 and len(rows) == 5 and len(set(rows.tolist())) == 5
    assert rows.tolist() == sorted(rows.tolist()) and rows.max() < 50
    assert np.array_equal(rows, setup_sample(50, config, seed=1))
    assert not np.array_equal(rows, setup_sample(50, config, seed=2))


def _plan(rid: int, start: WarmStart, source: int | None) -> RegionPlan:
    source_codes = np.array([SampleSource.NEW, SampleSource.SHARE, SampleSource.REPLAY], np.int8)
    return RegionPlan(rid, np.array([1, 2, 3]), np.ones(3, np.float32), source_codes, start, source)


def test_region_plan_counts_and_training_order() -> None:
    plan = _plan(4, WarmStart.PARENT, 2)
    assert (plan.n_new, plan.n_replay) == (2, 1)  # NEW and SHARE rows are new this period
    assert plan.replay.tolist() == [False, False, True]
    plans = [
        _plan(1, WarmStart.PREVIOUS, 1),
        _plan(5, WarmStart.ZERO, None),
        _plan(2, WarmStart.PREVIOUS, 2),
        _plan(4, WarmStart.PARENT, 2),
    ]
    # copies and fresh starts first, so region 4 copies region 2 before 2 retrains
    assert [p.region_id for p in training_order(plans)] == [4, 5, 1, 2]
    assert region_seed(10, 3) == 13


def test_plan_period_uses_the_training_sets_and_the_warm_start_rule() -> None:
    rng = np.random.default_rng(2)
    mus = rng.standard_normal((3, 32))
    mus /= np.linalg.norm(mus, axis=1, keepdims=True)
    X = np.vstack([vonmises_fisher(m, 200.0).rvs(100, random_state=rng) for m in mus])
    config = RegionConfig(n_regions=3)
    regions = fit_regions(X.astype(np.float32), config, seed=0, keys=np.arange(300))
    new = np.vstack([vonmises_fisher(m, 200.0).rvs(30, random_state=rng) for m in mus[:2]])
    keys = 1000 + np.arange(60)
    paper = AdapterConfig(replay_ratio=0.5, sharing=SharingConfig(shared=False, promote=False))
    sets = region_training_sets(
        edit_regions(regions, new.astype(np.float32), config, 1, keys=keys), config, 0.5, seed=4
    )
    adapter = SharingConfig(step=SharedStep.ADAPTER)
    for adapters in (
        paper,
        replace(paper, sharing=adapter),
        replace(paper, sharing=SharingConfig()),
    ):
        plan = plan_period(regions, new.astype(np.float32), keys, config, adapters, 1, {0}, seed=4)
        assert plan.affected == sets.affected and len(plan.affected) == 2
        for one in plan.plans:
            np.testing.assert_array_equal(one.keys, sets.sets[one.region_id].keys)
            np.testing.assert_array_equal(one.weights, sets.sets[one.region_id].weights)
            assert one.n_replay == round(one.n_new * 0.5 / 0.5)  # rho 0.5: as many replayed
            sharing = adapters.sharing
            start = warm_start(plan.edit.regions, one.region_id, {0}, sharing)
            assert (one.warm_start, one.source_region) == start
            # shared adapter: all copy it; full step: all are zero residuals on the new base
            copies = sharing.shared and not sharing.full
            assert (one.warm_start is WarmStart.SHARED) == copies
            assert (one.warm_start is WarmStart.ZERO) == sharing.full
    # without region replay the same regions train on their new rows only
    alone = replace(paper, sharing=SharingConfig(region_replay=False))
    plan = plan_period(regions, new.astype(np.float32), keys, config, alone, 1, {0}, seed=4)
    assert plan.affected == sets.affected
    for one in plan.plans:
        new_rows = sets.sets[one.region_id].source != SampleSource.REPLAY
        np.testing.assert_array_equal(one.keys, sets.sets[one.region_id].keys[new_rows])
        assert one.n_replay == 0 and one.n_new > 0


def test_train_period_needs_every_source_adapter_in_the_bank() -> None:
    backbone = build_seqrec(ItemVocab(np.arange(10)), SeqRecConfig(n_embd=8, n_layer=1))
    paper = SharingConfig(shared=False, promote=False)
    bank = RegionAdapters(backbone, AdapterConfig(sharing=paper))
    regions = _four_regions()
    edit = edit_regions(regions, regions.center[:1].astype(np.float32), RegionConfig(), 1)
    plan = PeriodPlan(edit=edit, plans=(_plan(0, WarmStart.PARENT, 1),))
    with pytest.raises(RaieStateError, match="region 0 starts from region 1"):
        train_period(bank, plan, NO_WINDOWS, lambda keys: pytest.fail("fetched before checking"), 0)
