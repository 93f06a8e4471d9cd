"""Per-region LoRA adapters: targets really wrapped, isolation, warm starts, new-item rows,
mixed-batch routed scoring, save/load."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from peft.tuners.lora import LoraLayer

from raie_core.adapters import (
    BASE,
    GLOBAL,
    AdapterConfig,
    AdapterTrainingSet,
    RegionAdapters,
    WarmStart,
    adapter_name,
    train_adapter,
)
from raie_core.backbones import load_backbone
from raie_core.backbones.seqrec import SeqRecBackbone, SeqRecConfig, fit_seqrec
from raie_core.configs import config_from_dict
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.lora import LoraShape
from raie_core.metrics import target_ranks
from raie_core.protocol import ItemVocab, Windows
from raie_core.scoring import routed_scores
from raie_core.sharing import SHARED_KEY
from raie_core.training import TrainConfig
from tests.core.test_seqrec import L, cycle_windows, ml100k_backbone

KNOWN = list(range(1, 21))
FRESH = list(range(15, 27))  # items 21..26 are unknown at setup
CONFIG = AdapterConfig(train=TrainConfig(max_epochs=6, lr=1e-2, batch_size=64, patience=3))


@pytest.fixture(scope="module")
def backbone() -> SeqRecBackbone:
    config = SeqRecConfig(
        n_embd=16,
        n_head=2,
        n_layer=2,
        max_len=L,
        dropout=0.1,
        train=TrainConfig(lr=1e-2, max_epochs=15, patience=5),
    )
    trained, _ = fit_seqrec(ItemVocab(np.arange(26)), cycle_windows(300, KNOWN, seed=0), config)
    return trained


@pytest.fixture(scope="module")
def update() -> AdapterTrainingSet:
    return AdapterTrainingSet.from_windows(cycle_windows(160, FRESH, seed=1))


@pytest.fixture(scope="module")
def bank(backbone: SeqRecBackbone, update: AdapterTrainingSet) -> RegionAdapters:
    bank = RegionAdapters(backbone, CONFIG)
    train_adapter(bank, adapter_name(0), update, seed=0, warm_start=WarmStart.ZERO)
    half = AdapterTrainingSet.from_windows(cycle_windows(80, KNOWN[::-1], seed=2))
    train_adapter(bank, adapter_name(3), half, seed=1, warm_start=WarmStart.ZERO)
    return bank


def _ctx(windows_or_set: Windows | AdapterTrainingSet, n: int) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(windows_or_set.context[:n]))


def _clone(params: dict[str, torch.nn.Parameter]) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in params.items()}


def test_every_target_is_wrapped_and_trained(bank: RegionAdapters) -> None:
    model = bank.model
    assert model is not None
    wrapped = [n for n, m in model.named_modules() if isinstance(m, LoraLayer)]
    # 2 layers x (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj): fails if peft skips one.
    assert len(wrapped) == 8
    assert {n.rsplit(".", 1)[-1] for n in wrapped} == {"c_attn", "c_proj", "c_fc"}
    own = bank.adapter_params(adapter_name(0))
    lora_b = [p for n, p in own.items() if "lora_B" in n]
    assert len(lora_b) == 8 and all(float(p.abs().sum()) > 0 for p in lora_b)
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            assert module.scaling[adapter_name(0)] == pytest.approx(16 / 8), name


def test_adapter_changes_eval_output(bank: RegionAdapters, update: AdapterTrainingSet) -> None:
    model, backbone = bank.model, bank.backbone
    assert model is not None
    model.eval()
    model.set_adapter(adapter_name(0))
    context = _ctx(update, 16)
    with torch.no_grad():
        adapted = backbone.logits(model, context)
        base = backbone.logits(backbone.model, context)
    assert (adapted - base).abs().max() > 1e-3


def test_training_leaves_base_and_other_adapters_bit_identical(
    backbone: SeqRecBackbone, update: AdapterTrainingSet
) -> None:
    bank = RegionAdapters(backbone, CONFIG)
    train_adapter(bank, adapter_name(1), update, seed=0, warm_start=WarmStart.ZERO)
    base_before = _clone(bank.base_params())
    other_before = _clone(bank.adapter_params(adapter_name(1)))
    reference = {n: p.detach().clone() for n, p in backbone.model.named_parameters()}
    train_adapter(bank, adapter_name(2), update, seed=5, warm_start=WarmStart.ZERO)
    for name, value in bank.base_params().items():
        assert torch.equal(value, base_before[name]), name
    for name, value in bank.adapter_params(adapter_name(1)).items():
        assert torch.equal(value, other_before[name]), name
    for name, value in backbone.model.named_parameters():
        assert torch.equal(value, reference[name]), name
    assert len(base_before) == len(reference)  # wte + positions + blocks + ln_f, nothing else


def test_only_new_item_rows_change(bank: RegionAdapters, backbone: SeqRecBackbone) -> None:
    model = bank.model
    assert model is not None
    wte = model.base_model.model.transformer.wte
    effective = wte.token_adapter.get_merged_weights([adapter_name(0)])
    base = backbone.model.transformer.wte.weight
    known = torch.from_numpy(backbone.known_items)
    assert backbone.item_rows() == [21, 22, 23, 24, 25, 26]
    assert torch.equal(effective[known], base[known])
    assert not torch.equal(effective[~known], base[~known])
    lm_head = model.base_model.model.lm_head
    tied = lm_head.token_adapter.get_merged_weights([adapter_name(0)])
    assert torch.equal(tied, effective)  # output rows follow the input rows


def test_new_items_rank_better_after_update(bank: RegionAdapters, backbone: SeqRecBackbone) -> None:
    test = cycle_windows(200, FRESH, seed=9)
    fresh = ~backbone.known_items[test.target]
    assert fresh.sum() > 20
    context = test.context[fresh]
    target = torch.from_numpy(test.target[fresh])
    before = routed_scores(bank, context, np.full(len(context), -1)).scores
    after = routed_scores(bank, context, np.zeros(len(context), dtype=np.int64)).scores

    def ranks(scores: torch.Tensor) -> torch.Tensor:
        return (scores > scores.gather(1, target[:, None])).sum(dim=1)

    assert ranks(after).float().median() < ranks(before).float().median()


def test_mixed_batch_equals_per_sample_set_adapter(
    bank: RegionAdapters, update: AdapterTrainingSet
) -> None:
    n = 24
    context = update.context[:n]
    route = np.array([0, 3, -1, 7, 3, 0] * 4, dtype=np.int64)  # region 7 has no adapter
    result = routed_scores(bank, context, route, batch_size=5)
    assert result.route.tolist() == [0, 3, -1, -1, 3, 0] * 4
    model, backbone = bank.model, bank.backbone
    assert model is not None
    model.eval()
    with torch.no_grad():
        for row in range(n):
            one = torch.from_numpy(context[row : row + 1])
            if result.route[row] < 0:
                with model.disable_adapter():
                    expected = backbone.logits(model, one)
            else:
                model.set_adapter(adapter_name(int(result.route[row])))
                expected = backbone.logits(model, one)
            assert torch.allclose(result.scores[row], expected[0], atol=1e-5), row
    base_rows = torch.from_numpy(result.route < 0)
    plain = backbone.logits(backbone.model, torch.from_numpy(context))
    assert torch.allclose(result.scores[base_rows], plain[base_rows], atol=1e-5)


def test_save_load_reproduces_scores(
    bank: RegionAdapters, backbone: SeqRecBackbone, update: AdapterTrainingSet, tmp_path: Path
) -> None:
    route = np.array([0, 3, -1, 3] * 6, dtype=np.int64)
    context = update.context[:24]
    expected = routed_scores(bank, context, route).scores
    backbone.save(tmp_path / "base")
    bank.save(tmp_path / "adapters")
    names = sorted(p.name for p in (tmp_path / "adapters").iterdir())
    assert {"adapters.json", adapter_name(0), adapter_name(3)} <= set(names)
    files = sorted(p.name for p in (tmp_path / "adapters" / adapter_name(0)).iterdir())
    assert files == ["adapter_config.json", "adapter_model.safetensors"]
    loaded_backbone = load_backbone(tmp_path / "base")
    again = RegionAdapters.load(loaded_backbone, tmp_path / "adapters")
    assert again.names == bank.names and again.config == bank.config
    assert torch.allclose(routed_scores(again, context, route).scores, expected, atol=1e-6)


def test_warm_starts(bank: RegionAdapters, update: AdapterTrainingSet) -> None:
    context = update.context[:12]
    source = routed_scores(bank, context, np.zeros(12, dtype=np.int64)).scores
    bank.add(adapter_name(10), WarmStart.PARENT, source=adapter_name(0))
    copied = routed_scores(bank, context, np.full(12, 10)).scores
    assert torch.allclose(copied, source, atol=1e-6)
    bank.add(adapter_name(11), WarmStart.ZERO, seed=3)
    fresh = routed_scores(bank, context, np.full(12, 11)).scores
    base = routed_scores(bank, context, np.full(12, -1)).scores
    assert torch.allclose(fresh, base, atol=1e-6)  # B = 0 and item rows = base rows
    # a copy of a copy is the source (WarmStart.GLOBAL is gone: a PARENT copy of `global`)
    bank.add(GLOBAL, WarmStart.PARENT, source=adapter_name(3))
    bank.add(adapter_name(12), WarmStart.PARENT, source=GLOBAL)
    assert torch.allclose(
        routed_scores(bank, context, np.full(12, 12)).scores,
        routed_scores(bank, context, np.full(12, 3)).scores,
        atol=1e-6,
    )
    with pytest.raises(RaieStateError, match="no previous version"):
        bank.add(adapter_name(99), WarmStart.PREVIOUS)
    with pytest.raises(RaieStateError, match="source adapter"):
        bank.add(adapter_name(99), WarmStart.PARENT, source=adapter_name(98))
    with pytest.raises(RaieConfigError, match="reserved"):
        bank.add(BASE, WarmStart.ZERO)
    for name in (adapter_name(10), adapter_name(11), adapter_name(12), GLOBAL):
        bank.delete(name)
    assert bank.names == (adapter_name(0), adapter_name(3))
    with pytest.raises(RaieStateError, match="does not exist"):
        bank.delete(adapter_name(10))


def test_training_is_seeded_and_validates_on_new_rows_only(
    backbone: SeqRecBackbone, update: AdapterTrainingSet
) -> None:
    replay = cycle_windows(40, KNOWN, seed=4)
    new = cycle_windows(50, FRESH, seed=5)
    data = AdapterTrainingSet.from_windows(new, np.full(50, 0.5, np.float32), replay)
    assert data.weight.tolist() == [0.5] * 50 + [1.0] * 40
    results, states = [], []
    for _ in range(2):
        bank = RegionAdapters(backbone, CONFIG)
        results.append(
            train_adapter(bank, adapter_name(0), data, seed=11, warm_start=WarmStart.ZERO)
        )
        states.append(_clone(bank.adapter_params(adapter_name(0))))
    assert results[0] == results[1]
    assert all(torch.equal(states[0][n], states[1][n]) for n in states[0])
    assert results[0].n_val == 5 and results[0].n_train == 85  # 10 % of the 50 new rows


def test_previous_continues_from_current_version(
    backbone: SeqRecBackbone, update: AdapterTrainingSet
) -> None:
    bank = RegionAdapters(
        backbone, AdapterConfig(train=TrainConfig(max_epochs=2, lr=1e-2, patience=3))
    )
    first = train_adapter(bank, adapter_name(0), update, seed=0, warm_start=WarmStart.ZERO)
    second = train_adapter(bank, adapter_name(0), update, seed=0, warm_start=WarmStart.PREVIOUS)
    assert second.train_losses[0] < first.train_losses[0]


def test_errors(backbone: SeqRecBackbone) -> None:
    with pytest.raises(RaieConfigError, match="r=0"):
        AdapterConfig(lora=LoraShape(r=0))
    with pytest.raises(RaieConfigError, match="replay_ratio=1.0 should be in"):
        AdapterConfig(replay_ratio=1.0)
    # warm_start is no config field any more (train_adapter's argument): a saved bank
    # manifest that still names it is rejected, not silently read with a default
    with pytest.raises(RaieConfigError, match="unknown config key 'warm_start'"):
        config_from_dict(AdapterConfig, {"warm_start": "zero"})
    assert [w.value for w in WarmStart] == ["previous", "parent", "zero", "shared"]
    with pytest.raises(RaieConfigError, match="weight min"):
        AdapterTrainingSet(np.zeros((1, L), np.int64), np.ones(1, np.int64), np.zeros(1))
    with pytest.raises(RaieConfigError, match="region_id=-2"):
        adapter_name(-2)
    assert adapter_name(SHARED_KEY) == GLOBAL  # the shared adapter's key in adapter maps
    bank = RegionAdapters(backbone, CONFIG)
    with pytest.raises(RaieConfigError, match="route rows=2"):
        routed_scores(bank, np.zeros((3, L), np.int64), np.zeros(2, np.int64))
    empty = routed_scores(bank, cycle_windows(4, KNOWN, seed=0).context, np.array([0, 1, -1, 2]))
    assert empty.route.tolist() == [-1, -1, -1, -1]  # no adapters yet: everything through the base


@pytest.mark.slow
def test_ml100k_update_makes_new_items_rank_better() -> None:
    backbone, split = ml100k_backbone()
    known = backbone.known_items
    seen_in_f = np.zeros_like(known)
    seen_in_f[split.finetune.target] = True
    pick = ~known[split.test.target] & seen_in_f[split.test.target]
    print(f"\nT windows whose target is new at setup and seen in F: {int(pick.sum())}")
    assert pick.sum() >= 10
    context, target = split.test.context[pick], torch.from_numpy(split.test.target[pick])
    bank = RegionAdapters(backbone, AdapterConfig())
    result = train_adapter(
        bank,
        adapter_name(0),
        AdapterTrainingSet.from_windows(split.finetune),
        seed=0,
        warm_start=WarmStart.ZERO,
    )

    def median_rank(region: int) -> float:
        scores = routed_scores(bank, context, np.full(len(context), region)).scores
        return float(target_ranks(scores, target, context).float().median())

    before, after = median_rank(-1), median_rank(0)
    print(f"adapter epochs {result.epochs}; median rank of new targets: {before} -> {after}")
    assert after < before
    assert bank.model is not None
    effective = bank.model.base_model.model.transformer.wte.token_adapter.get_merged_weights(
        [adapter_name(0)]
    )
    base = backbone.model.transformer.wte.weight
    assert torch.equal(effective[torch.from_numpy(known)], base[torch.from_numpy(known)])


def test_modules_train_a_whole_copy_per_adapter(
    backbone: SeqRecBackbone, update: AdapterTrainingSet
) -> None:
    bank = RegionAdapters(backbone, replace(CONFIG, modules=("wpe",)))
    train_adapter(bank, adapter_name(0), update, seed=0, warm_start=WarmStart.ZERO)
    own = bank.adapter_params(adapter_name(0))
    copy = [p for n, p in own.items() if "wpe.modules_to_save" in n]
    assert len(copy) == 1 and copy[0].shape == backbone.model.transformer.wpe.weight.shape
    assert not torch.equal(copy[0], backbone.model.transformer.wpe.weight)  # it trained
    route = np.tile([0, -1], len(update) // 2)
    mixed = routed_scores(bank, update.context, route).scores  # mixed batches accept it
    with torch.no_grad():
        setup = backbone.logits(backbone.model, torch.from_numpy(update.context[1::2]))
    torch.testing.assert_close(mixed[1::2], setup)  # base rows untouched by the copy


def test_deleting_the_last_adapter_leaves_the_plain_base(
    backbone: SeqRecBackbone, update: AdapterTrainingSet
) -> None:
    # peft cannot delete its only adapter; the bank drops the peft layers instead
    bank = RegionAdapters(backbone, CONFIG)
    train_adapter(bank, adapter_name(0), update, seed=0, warm_start=WarmStart.ZERO)
    bank.delete(adapter_name(0))
    assert bank.model is None and bank.names == ()
    assert not any("lora" in n for n, _ in bank.base_model.named_parameters())
    route = np.full(len(update), -1)
    with torch.no_grad():
        setup = backbone.logits(backbone.model, torch.from_numpy(update.context))
    torch.testing.assert_close(routed_scores(bank, update.context, route).scores, setup)
    train_adapter(bank, adapter_name(1), update, seed=0, warm_start=WarmStart.ZERO)
    assert bank.names == (adapter_name(1),)  # and the bank takes new adapters again
