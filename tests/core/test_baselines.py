"""Each update method on a tiny synthetic task behaves as its definition says (DESIGN §5)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from raie_core.adapters import GLOBAL, AdapterConfig, adapter_name
from raie_core.backbones.seqrec import SeqRecConfig, build_seqrec
from raie_core.baselines import (
    ABLATIONS,
    METHODS,
    EbprConfig,
    MethodConfig,
    balance_loss,
    bpr_edit_loss,
    build_method,
    evaluate,
    fuse_logits,
    lwf_loss,
    mine_edit_pairs,
    replay_sample,
)
from raie_core.baselines.lsat import LONG, SHORT
from raie_core.baselines.mole import expert_name
from raie_core.configs import config_from_dict
from raie_core.errors import RaieConfigError
from raie_core.protocol import ItemVocab, Windows
from raie_core.regions import RegionConfig
from raie_core.sharing import SharedStep
from raie_core.training import TrainConfig

N_ITEMS, MAX_LEN = 24, 6


def _windows(n: int, seed: int, items: tuple[int, int] = (1, N_ITEMS)) -> Windows:
    """n windows: random contexts over items[0]..items[1]; target = last context item + 1."""
    rng = np.random.default_rng(seed)
    context = rng.integers(items[0], items[1], size=(n, MAX_LEN)).astype(np.int64)
    target = np.minimum(context[:, -1] + 1, N_ITEMS).astype(np.int64)
    return Windows(context, target, np.arange(n), np.arange(n, dtype=np.int64))


@pytest.fixture(scope="module")
def backbone():
    vocab = ItemVocab(np.arange(100, 100 + N_ITEMS, dtype=np.int64))
    bb = build_seqrec(vocab, SeqRecConfig(n_embd=16, n_layer=1, n_head=2, max_len=MAX_LEN, seed=0))
    known = np.ones(vocab.n_tokens, dtype=bool)
    known[-3:] = False  # three items unseen at setup: adapters train their rows
    bb.known_items = known
    bb.model.requires_grad_(False)
    return bb


CONFIG = MethodConfig(
    adapters=AdapterConfig(train=TrainConfig(max_epochs=2, patience=1, batch_size=32)),
    score_batch=64,
    regions=RegionConfig(
        n_regions=2, n_init=1, min_train_samples=4, min_cluster_size=4, pool_min=8
    ),
)


def _with_train(config: MethodConfig, **changes: object) -> MethodConfig:
    """``config`` with some of its shared training knobs (``adapters.train``) changed."""
    train = dataclasses.replace(config.adapters.train, **changes)
    return dataclasses.replace(config, adapters=dataclasses.replace(config.adapters, train=train))


OLD, NEW = _windows(64, 1), _windows(48, 2)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _run(name: str, backbone, config: MethodConfig = CONFIG):
    method = build_method(name, backbone, config)
    method.setup(OLD, seed=0)
    method.update(NEW, OLD, seed=0)
    return method


def test_registry_names_and_unknown_method(backbone) -> None:
    assert list(METHODS) == [
        "popularity",
        "base",
        "full_ft",
        "full_replay",
        "lora",
        "replay",
        "lwf",
        "lsat",
        "mole",
        "ebpr",
        "raie",
    ]
    assert {
        "raie-no-expand",
        "raie-no-add",
        "raie-no-replay",
        "raie-no-fallback",
        "raie-k3",
        "raie-k8",
    } <= set(ABLATIONS)
    assert "raie-global-warm" not in ABLATIONS  # WarmStart.GLOBAL is gone
    with pytest.raises(RaieConfigError, match="method='nope' should be one of"):
        build_method("nope", backbone, CONFIG)


def test_config_validation_names_field() -> None:
    # the shared budget and replay ratio are validated where they now live (adapters)
    with pytest.raises(RaieConfigError, match="max_epochs=0 should be >= 1"):
        config_from_dict(MethodConfig, {"adapters": {"train": {"max_epochs": 0}}})
    with pytest.raises(RaieConfigError, match="replay_ratio=1.0 should be in"):
        config_from_dict(MethodConfig, {"adapters": {"replay_ratio": 1.0}})
    # raie_warm_start is gone (one warm-start rule): naming it fails instead of being ignored
    with pytest.raises(RaieConfigError, match="unknown config key 'raie_warm_start'"):
        config_from_dict(MethodConfig, {"raie_warm_start": "zero"})
    with pytest.raises(RaieConfigError, match="full_ft_lr=0.0 should be > 0"):
        MethodConfig(full_ft_lr=0.0)
    assert CONFIG.train is CONFIG.adapters.train and CONFIG.train.max_epochs == 2
    with pytest.raises(RaieConfigError, match="ebpr.steps=0 should be >= 1"):
        EbprConfig(steps=0)


def test_base_leaves_weights_untouched_and_scores_with_backbone(backbone) -> None:
    before = _snapshot(backbone.model)
    method = _run("base", backbone)
    after = _snapshot(backbone.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    with torch.no_grad():
        expected = backbone.logits(backbone.model.eval(), torch.from_numpy(NEW.context))
    torch.testing.assert_close(method.scores(NEW.context), expected)


def test_popularity_counts_setup_then_new_targets(backbone) -> None:
    method = build_method("popularity", backbone, CONFIG)
    method.setup(OLD, seed=0)
    expected = np.bincount(OLD.target, minlength=N_ITEMS + 1).astype(np.float32)
    assert np.array_equal(method.scores(NEW.context[:1])[0].numpy(), expected)
    method.update(NEW, OLD, seed=0)
    expected += np.bincount(NEW.target, minlength=N_ITEMS + 1)
    assert np.array_equal(method.scores(NEW.context[:2])[1].numpy(), expected)


def test_full_ft_changes_every_layer_of_a_copy_only(backbone) -> None:
    before = _snapshot(backbone.model)
    method = _run("full_ft", backbone)
    assert all(torch.equal(before[k], v) for k, v in _snapshot(backbone.model).items())
    tuned = _snapshot(method.model)
    changed = {k for k in before if not torch.equal(before[k], tuned[k])}
    assert "transformer.h.0.attn.c_attn.weight" in changed
    assert "transformer.wte.weight" in changed


def test_lora_trains_one_adapter_and_new_item_rows(backbone) -> None:
    method = _run("lora", backbone)
    assert method.bank.names == (GLOBAL,)
    params = method.bank.adapter_params(GLOBAL)
    lora_b = [p for n, p in params.items() if "lora_B" in n]
    assert lora_b and all(float(p.abs().sum()) > 0 for p in lora_b)
    assert not torch.equal(
        method.scores(NEW.context), build_method("base", backbone, CONFIG).scores(NEW.context)
    )


def test_replay_sample_ratio_and_determinism() -> None:
    sample = replay_sample(OLD, n_new=12, ratio=0.7, seed=3)
    assert len(sample) == 28  # round(12 * 0.7 / 0.3)
    assert np.array_equal(sample.target, replay_sample(OLD, 12, 0.7, seed=3).target)
    assert len(replay_sample(OLD, n_new=100, ratio=0.7, seed=3)) == len(OLD)  # capped
    assert len(replay_sample(OLD, n_new=12, ratio=0.0, seed=3)) == 0


def test_replay_training_set_contains_old_windows(backbone) -> None:
    method = build_method("replay", backbone, CONFIG)
    data = method.training_data(NEW, OLD, seed=0)
    assert len(data) == len(NEW) + len(OLD)  # 48 * 0.7 / 0.3 = 112 > 64 old: all replayed
    assert int(data.replay.sum()) == len(OLD)
    old_rows = {tuple(r) for r in OLD.context}
    assert all(tuple(r) in old_rows for r in data.context[data.replay])
    assert (
        method.name == "replay"
        and build_method("lora", backbone, CONFIG).training_data(NEW, OLD, 0).replay.sum() == 0
    )


def test_full_replay_trains_every_weight_on_new_and_replayed_old_windows(backbone) -> None:
    """`full_replay` is `full_ft` on the shared step's rows: `full_ft` sees only the new
    windows, `full_replay` the same rows as RAIE's full step, and its update moves the model."""
    method = build_method("full_replay", backbone, CONFIG)
    data = method.training_data(NEW, OLD, seed=0)
    assert method.name == "full_replay" and int(data.replay.sum()) == len(OLD)
    assert build_method("full_ft", backbone, CONFIG).training_data(NEW, OLD, 0).replay.sum() == 0
    before = [p.clone() for p in method.model.parameters()]
    method.update(NEW, OLD, seed=0)
    assert any(
        not torch.equal(a, b) for a, b in zip(before, method.model.parameters(), strict=True)
    )
    assert all(torch.equal(a, b) for a, b in zip(before, backbone.model.parameters(), strict=True))


def test_lwf_loss_is_ce_plus_scaled_distillation() -> None:
    student = torch.tensor([[2.0, 0.0, -1.0]])
    teacher = torch.tensor([[0.0, 1.0, 0.0]])
    target = torch.tensor([0])
    ce = F.cross_entropy(student, target)
    assert torch.isclose(lwf_loss(student, teacher, target, alpha=0.0, temperature=2.0), ce)
    assert torch.isclose(lwf_loss(student, student, target, alpha=5.0, temperature=2.0), ce)
    p = torch.softmax(teacher / 2.0, dim=-1)
    kl = (p * (p.log() - torch.log_softmax(student / 2.0, dim=-1))).sum()
    assert torch.isclose(lwf_loss(student, teacher, target, 0.5, 2.0), ce + 0.5 * 4.0 * kl)


def test_lwf_trains_and_stays_closer_to_base_than_lora(backbone) -> None:
    strong = dataclasses.replace(_with_train(CONFIG, max_epochs=4, lr=1e-2), lwf_alpha=10.0)
    base = build_method("base", backbone, strong).scores(OLD.context)
    drift = {}
    for name in ("lora", "lwf"):
        method = _run(name, backbone, strong)
        drift[name] = float((method.scores(OLD.context) - base).abs().mean())
    assert 0 < drift["lwf"] < drift["lora"]


def test_lsat_fuses_long_and_short_adapters(backbone) -> None:
    method = _run("lsat", backbone)
    assert method.bank.names == (LONG, SHORT)
    long = method.adapter_scores(NEW.context, LONG)
    short = method.adapter_scores(NEW.context, SHORT)
    assert not torch.equal(long, short)
    torch.testing.assert_close(method.scores(NEW.context), 0.5 * long + 0.5 * short)
    torch.testing.assert_close(fuse_logits(long, short, 1.0), long)


def test_balance_loss_values() -> None:
    assert float(balance_loss(torch.full((4, 2), 0.5))) == pytest.approx(0.0)
    assert float(balance_loss(torch.tensor([[1.0, 0.0, 0.0]] * 3))) == pytest.approx(2.0)


def test_mole_trains_every_expert_and_the_gate(backbone) -> None:
    method = _run("mole", backbone)
    for k in range(CONFIG.mole_experts):
        params = method.bank.adapter_params(expert_name(k))
        lora_b = [p for n, p in params.items() if "lora_B" in n]
        assert lora_b and all(float(p.abs().sum()) > 0 for p in lora_b), expert_name(k)
    assert float(method.gate.weight.abs().sum()) > 0
    gates = method.gates(torch.nn.functional.normalize(torch.randn(5, 16), dim=1))
    torch.testing.assert_close(gates.sum(dim=1), torch.ones(5))


def test_mole_scores_before_its_first_update_equal_base(backbone) -> None:
    method = build_method("mole", backbone, CONFIG)
    method.setup(OLD, seed=0)  # prequential: scored before any update (experts have B = 0)
    base = build_method("base", backbone, CONFIG).scores(NEW.context)
    torch.testing.assert_close(method.scores(NEW.context), base, rtol=1e-4, atol=1e-4)


def test_mine_edit_pairs_takes_the_best_wrong_unseen_items() -> None:
    # 2 windows over 6 tokens (0 = PAD): scores rank items 5 > 4 > 3 > 2 > 1 in both rows.
    scores = torch.tensor([[9.0, 1.0, 2.0, 3.0, 4.0, 5.0]] * 2)
    context = np.array([[1, 5], [2, 2]], dtype=np.int64)  # row 0 has seen item 5
    windows = Windows(context, np.array([4, 3]), np.zeros(2), np.zeros(2, dtype=np.int64))
    pairs = mine_edit_pairs(scores, windows, top=3, per_window=2, max_pairs=10, seed=0)
    # row 0: top-3 unseen = 4, 3, 2; 4 is the target -> 3, 2. row 1: 5, 4, 3; target 3 -> 5, 4.
    assert pairs.row.tolist() == [0, 0, 1, 1]
    assert pairs.bad.tolist() == [3, 2, 5, 4]
    capped = mine_edit_pairs(scores, windows, top=3, per_window=2, max_pairs=3, seed=0)
    assert len(capped) == 3
    again = mine_edit_pairs(scores, windows, top=3, per_window=2, max_pairs=3, seed=0)
    assert capped.bad.tolist() == again.bad.tolist()


def test_bpr_edit_loss_is_mean_negative_log_sigmoid() -> None:
    scores = torch.tensor([[0.0, 2.0, 0.5, -1.0]])
    loss = bpr_edit_loss(scores, torch.tensor([1]), torch.tensor([[2, 3]]))
    expected = -(F.logsigmoid(torch.tensor(0.5 - 2.0)) + F.logsigmoid(torch.tensor(-1.0 - 2.0))) / 2
    torch.testing.assert_close(loss, expected)


def test_ebpr_edits_only_the_item_embedding_and_demotes_mined_items(backbone) -> None:
    config = dataclasses.replace(CONFIG, ebpr=EbprConfig(top=3, steps=30, lr=1e-2, negatives=5))
    before = _snapshot(backbone.model)
    method = build_method("ebpr", backbone, config)
    method.setup(OLD, seed=0)
    pairs = mine_edit_pairs(method.scores(NEW.context), NEW, 3, 2, 10_000, seed=0)
    first = method.scores(NEW.context)
    method.update(NEW, OLD, seed=0)
    edited = method.scores(NEW.context)
    assert all(torch.equal(before[k], v) for k, v in _snapshot(backbone.model).items())
    changed = {k for k, v in _snapshot(method.model).items() if not torch.equal(before[k], v)}
    embedding = {"transformer.wte.weight", "lm_head.weight"}  # tied: one tensor, two names
    assert changed and changed <= embedding

    def margin(scores: torch.Tensor) -> float:
        """Mean score of each pair's bad item above its window's mean item score."""
        return float((scores[pairs.row, pairs.bad] - scores[pairs.row, 1:].mean(1)).mean())

    assert margin(edited) < margin(first) - 0.1


def test_raie_paper_fits_regions_edits_and_routes(backbone) -> None:
    before = _snapshot(backbone.model)
    method = _run("raie-paper", backbone)
    assert all(torch.equal(before[k], v) for k, v in _snapshot(backbone.model).items())
    first, second = method.history
    assert first.period == 0 and first.live_regions == 2
    assert sum(second.counts[a] for a in ("update", "expand", "add")) == len(NEW)
    assert set(method.bank.names) == {adapter_name(r) for r in second.affected}
    assert second.kept == second.affected  # no promotion test: every retrained adapter serves
    routes = method.routes(NEW.context)
    scores = method.scores(NEW.context)
    base = build_method("base", backbone, CONFIG).scores(NEW.context)
    outside = routes < 0
    torch.testing.assert_close(scores[torch.from_numpy(outside)], base[torch.from_numpy(outside)])
    assert scores.shape == (len(NEW), N_ITEMS + 1)
    routed = method.routed(NEW.context)  # the same scores, and who served each row
    torch.testing.assert_close(routed.scores, scores)
    trained = np.isin(routes, list(second.affected))
    np.testing.assert_array_equal(routed.route, np.where(trained, routes, -1))


def test_raie_serves_the_shared_adapter_where_no_region_adapter_is_promoted(backbone) -> None:
    # no validation rows: nothing shows a region adapter is better, so none is promoted and
    # every row is scored by the shared adapter, which is the `replay` update itself
    config = _with_train(CONFIG, max_epochs=3, lr=1e-2, val_fraction=0.0)
    method = _run("raie-adapter-step", backbone, config)
    assert method.history[1].affected and method.history[1].kept == ()
    assert method.bank.names == (GLOBAL,)
    routed = method.routed(NEW.context)
    assert (routed.route == -1).all()
    replay = _run("replay", backbone, config)
    torch.testing.assert_close(routed.scores, replay.scores(NEW.context))


def test_raie_without_promotions_is_the_full_ft_update(backbone) -> None:
    # the default shared step (FULL) without replay is `full_ft`'s update, on the bank's
    # base; no validation rows: no region adapter is promoted, every row is served by that base
    config = _with_train(CONFIG, max_epochs=3, val_fraction=0.0)
    method = _run("raie-no-shared-replay", backbone, config)
    assert method.config.adapters.sharing.full and method.history[1].kept == ()
    assert method.bank.names == ()  # no shared adapter: the base itself was fine-tuned
    routed = method.routed(NEW.context)
    assert (routed.route == -1).all()
    full_ft = _run("full_ft", backbone, config)
    torch.testing.assert_close(routed.scores, full_ft.scores(NEW.context))
    base = _run("base", backbone, config).scores(NEW.context)
    assert not torch.allclose(routed.scores, base)


def test_raie_without_promotions_is_full_replay_over_periods(backbone) -> None:
    # period after period the shared step replays from all that came before (setup and the
    # earlier periods), as `full_replay` does: with nothing promoted they score the same
    config = _with_train(CONFIG, max_epochs=2, val_fraction=0.0)
    later = _windows(40, 3)
    methods = {}
    for name in ("raie", "full_replay"):
        method = _run(name, backbone, config)
        method.update(later, Windows.concat([OLD, NEW]), seed=1)
        methods[name] = method
    raie = methods["raie"]
    assert [record.kept for record in raie.history[1:]] == [(), ()]
    scores = methods["full_replay"].scores(later.context)
    torch.testing.assert_close(raie.routed(later.context).scores, scores)


def test_raie_keeps_only_promoted_region_adapters(backbone) -> None:
    config = _with_train(CONFIG, max_epochs=3, lr=1e-2)
    method = _run("raie", backbone, config)
    second = method.history[1]
    assert set(second.kept) <= set(second.affected)
    assert set(method.bank.names) == {adapter_name(r) for r in second.kept}  # no GLOBAL
    routed = method.routed(NEW.context)
    assert set(np.unique(routed.route[routed.route >= 0])) <= set(second.kept)
    # without the test every retrained region adapter serves, on top of the shared one
    no_test = _run("raie-no-promote", backbone, config)
    assert no_test.history[1].kept == no_test.history[1].affected
    names = {adapter_name(r) for r in no_test.history[1].affected}
    assert set(no_test.bank.names) == names


def test_raie_recent_regions_serve_one_copy_of_the_recent_adapter(backbone) -> None:
    config = _with_train(CONFIG, max_epochs=3, lr=1e-2)
    sharing = dataclasses.replace(config.adapters.sharing, level=0.5)  # a small test set
    config = dataclasses.replace(
        config, adapters=dataclasses.replace(config.adapters, sharing=sharing)
    )
    plain = _run("raie", backbone, config)
    method = _run("raie-recent", backbone, config)
    record = method.history[1]
    assert record.adopted and set(record.adopted) <= set(record.kept)
    assert plain.history[1].adopted == ()
    # the step's own adapter is gone; every adopting region holds the same weights
    assert set(method.bank.names) == {adapter_name(r) for r in record.kept}
    first, *others = [method.bank.adapter_params(adapter_name(r)) for r in record.adopted]
    for other in others:
        for a, b in zip(first.values(), other.values(), strict=True):
            assert torch.equal(a, b)
    # regions that did not adopt serve what the plain update gave them
    routes = method.routes(NEW.context)
    rows = ~np.isin(routes, record.adopted)
    torch.testing.assert_close(method.scores(NEW.context)[rows], plain.scores(NEW.context)[rows])


def test_raie_without_fallback_routes_every_row(backbone) -> None:
    method = _run("raie-no-fallback", backbone)  # routing only: every row has a region
    assert (method.routes(_windows(40, 9).context) >= 0).all()


def test_raie_ablation_configs() -> None:
    assert ABLATIONS["raie-no-replay"](CONFIG).adapters.replay_ratio == 0.0
    assert CONFIG.adapters.sharing.full  # the default shared step fine-tunes the base
    assert not ABLATIONS["raie-no-shared-replay"](CONFIG).adapters.sharing.replay
    assert ABLATIONS["raie-recent"](CONFIG).adapters.sharing.recent
    assert not CONFIG.adapters.sharing.recent
    no_region = ABLATIONS["raie-no-region-replay"](CONFIG).adapters
    assert not no_region.sharing.region_replay and no_region.sharing.replay
    adapter = ABLATIONS["raie-adapter-step"](CONFIG).adapters.sharing
    assert adapter.step is SharedStep.ADAPTER and adapter.replay and adapter.level == 0.5
    assert ABLATIONS["raie-no-fallback"](CONFIG).regions.fallback is False
    assert ABLATIONS["raie-k8"](CONFIG).regions.n_regions == 8
    assert ABLATIONS["raie-no-add"](CONFIG).regions.pool_min == 10**7
    no_expand = ABLATIONS["raie-no-expand"](CONFIG).regions
    assert no_expand.eps_core == pytest.approx(-no_expand.eps_band + 1e-6)


def test_raie_no_expand_never_expands(backbone) -> None:
    method = _run("raie-no-expand", backbone)
    assert method.history[1].counts["expand"] == 0


def test_evaluate_reports_every_metric(backbone) -> None:
    metrics = evaluate(build_method("base", backbone, CONFIG), NEW)
    assert list(metrics) == [f"{m}@{k}" for k in (5, 10, 20) for m in ("Recall", "NDCG")]
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
