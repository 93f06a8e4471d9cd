"""raie_core.rebase: the shared step as a full fine-tune of the bank's own base (a per-period
base), the region adapters as residuals on it, the fallback and the promotion test on it."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

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
from raie_core.backbones.seqrec import SeqRecBackbone, SeqRecConfig, fit_seqrec
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.metrics import target_ranks
from raie_core.protocol import ItemVocab
from raie_core.rebase import is_base_folder, save_period_base, train_base
from raie_core.scoring import fallback_name, routed_scores, window_gains, window_losses
from raie_core.serving import load_region_bank
from raie_core.sharing import SHARED_KEY, Criterion, SharedStep, SharingConfig
from raie_core.training import TrainConfig
from raie_core.update import RegionPlan, update_region
from tests.core.test_seqrec import L, cycle_windows

KNOWN = list(range(1, 21))
FRESH = list(range(15, 27))
FULL = SharingConfig(step=SharedStep.FULL, full_lr=1e-2, promote=True)
CONFIG = AdapterConfig(
    train=TrainConfig(max_epochs=4, lr=1e-2, batch_size=64, patience=2), sharing=FULL
)


@pytest.fixture(scope="module")
def backbone() -> SeqRecBackbone:
    config = SeqRecConfig(
        n_embd=16, n_head=2, n_layer=1, max_len=L, dropout=0.0, train=TrainConfig(lr=1e-2)
    )
    config = replace(config, train=replace(config.train, max_epochs=8, patience=3))
    trained, _ = fit_seqrec(ItemVocab(np.arange(26)), cycle_windows(200, KNOWN, seed=0), config)
    return trained


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def _data(n: int, seed: int) -> AdapterTrainingSet:
    return AdapterTrainingSet.from_windows(cycle_windows(n, FRESH, seed=seed))


def test_train_base_moves_only_the_banks_base(backbone: SeqRecBackbone) -> None:
    bank = RegionAdapters(backbone, CONFIG)
    train_adapter(bank, adapter_name(0), _data(60, 1), seed=0, warm_start=WarmStart.ZERO)
    setup, adapter = _state(backbone.model), _state_of(bank, adapter_name(0))
    base_before = {n: p.detach().clone() for n, p in bank.base_params().items()}
    data = _data(120, 2)
    before = window_losses(bank, BASE, data.context, data.target).mean()
    result = train_base(bank, data, seed=0)
    assert result.best_epoch >= 1  # the new cycle is learnable: some epoch beat the start
    assert window_losses(bank, BASE, data.context, data.target).mean() < before
    moved = [n for n, p in bank.base_params().items() if not torch.equal(p, base_before[n])]
    assert moved  # the base itself changed ...
    for name, value in _state(backbone.model).items():  # ... the setup backbone did not
        assert torch.equal(value, setup[name]), name
    for name, value in _state_of(bank, adapter_name(0)).items():  # nor the region adapter
        assert torch.equal(value, adapter[name]), name
    trainable = [n for n, p in bank.model.named_parameters() if p.requires_grad]
    assert trainable and all(adapter_name(0) in n for n in trainable)  # flags restored


def _state_of(bank: RegionAdapters, name: str) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in bank.adapter_params(name).items()}


def test_without_adapters_the_base_scores_every_row(backbone: SeqRecBackbone) -> None:
    bank = RegionAdapters(backbone, CONFIG)
    data = _data(80, 3)
    train_base(bank, data, seed=1)
    assert bank.model is None and fallback_name(bank) == BASE
    route = np.full(len(data), -1, dtype=np.int64)
    scores = routed_scores(bank, data.context, route).scores
    with torch.no_grad():
        direct = backbone.logits(bank.base_model, torch.from_numpy(data.context))
        setup = backbone.logits(backbone.model, torch.from_numpy(data.context))
    torch.testing.assert_close(scores, direct)
    assert not torch.allclose(scores, setup)  # served by the period's base, not the setup one
    losses = window_losses(bank, BASE, data.context, data.target)
    expected = torch.nn.functional.cross_entropy(
        direct, torch.from_numpy(data.target), reduction="none"
    )
    np.testing.assert_allclose(losses, expected.numpy(), rtol=1e-5)
    gains = window_gains(bank, BASE, data.context, data.target, k=3)
    ranks = target_ranks(direct, data.target, data.context).numpy()
    np.testing.assert_allclose(gains, np.where(ranks < 3, 1 / np.log2(ranks + 2), 0.0))
    assert 0 < np.count_nonzero(gains) < len(gains)  # both hits and misses at k=3


def test_a_region_is_judged_against_the_base_and_dropped_when_not_better(
    backbone: SeqRecBackbone,
) -> None:
    bank = RegionAdapters(backbone, CONFIG)
    data = _data(120, 4)
    train_base(bank, data, seed=0)
    windows = cycle_windows(40, FRESH, seed=5)
    plan = RegionPlan(
        region_id=3,
        keys=np.arange(40, dtype=np.int64),
        weights=np.ones(40, np.float32),
        source=np.zeros(40, np.int8),
        warm_start=WarmStart.ZERO,
        source_region=None,
    )
    update = update_region(bank, plan, windows, seed=0)
    assert update.promotion is not None and update.promotion.rows == 4
    by_ndcg = replace(bank.config, sharing=replace(FULL, criterion=Criterion.NDCG, k=5))
    ndcg_bank = RegionAdapters(backbone, by_ndcg)
    train_base(ndcg_bank, data, seed=0)
    judged = update_region(ndcg_bank, plan, windows, seed=0).promotion
    assert judged is not None and -1.0 <= judged.mean <= 1.0  # a difference of NDCG gains
    assert update.kept == update.promotion.promoted
    assert (adapter_name(3) in bank) == update.kept
    assert GLOBAL not in bank  # the full step trains no shared adapter


def test_full_lr_is_validated() -> None:
    with pytest.raises(RaieConfigError, match="sharing.full_lr=0.0 should be > 0"):
        SharingConfig(full_lr=0.0)
    with pytest.raises(RaieConfigError, match="sharing.k=0 should be >= 1"):
        SharingConfig(k=0)
    assert SharingConfig(step=SharedStep.FULL).full
    assert not SharingConfig(step=SharedStep.FULL, shared=False, promote=False).full


def test_a_saved_base_loads_back_under_the_shared_key(
    backbone: SeqRecBackbone, tmp_path: Path
) -> None:
    bank = RegionAdapters(backbone, CONFIG)
    data = _data(80, 6)
    train_base(bank, data, seed=2)
    save_period_base(bank, tmp_path / "base")
    assert is_base_folder(tmp_path / "base") and not is_base_folder(tmp_path)
    origin = json.loads((tmp_path / "base" / "base_config.json").read_text())
    assert origin == {"base_model_name_or_path": backbone.model.name_or_path}
    train_adapter(bank, adapter_name(1), data, seed=0, warm_start=WarmStart.ZERO)
    bank.save(tmp_path / "bank")
    with pytest.raises(RaieStateError, match="needs a bank without adapters"):
        save_period_base(bank, tmp_path / "again")
    folders = {SHARED_KEY: tmp_path / "base", 1: tmp_path / "bank" / adapter_name(1)}
    loaded = load_region_bank(backbone, CONFIG, folders)
    assert loaded.names == (adapter_name(1),)
    route = np.tile([1, -1], len(data) // 2)
    torch.testing.assert_close(
        routed_scores(loaded, data.context, route).scores,
        routed_scores(bank, data.context, route).scores,
    )
