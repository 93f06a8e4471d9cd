"""The seqrec backbone: inputs, padding, encode, loss, setup training, save/load, factory."""

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from raie_core.backbones import BackboneKind, build_backbone, encode_array, load_backbone
from raie_core.backbones.seqrec import (
    SeqRecBackbone,
    SeqRecConfig,
    build_seqrec,
    fit_seqrec,
    load_seqrec,
    model_inputs,
)
from raie_core.configs import config_from_dict, config_to_dict
from raie_core.data import load_dataset
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.metrics import popularity_scores, ranking_metrics, target_ranks
from raie_core.protocol import (
    ItemVocab,
    PaperSplit,
    ProtocolConfig,
    Windows,
    build_vocab,
    paper_split,
)
from raie_core.training import TrainConfig

L = 6
TINY = SeqRecConfig(
    n_embd=16,
    n_head=2,
    n_layer=2,
    max_len=L,
    dropout=0.1,
    train=TrainConfig(lr=5e-3, max_epochs=200, patience=5),
)


def tiny(**train: object) -> SeqRecConfig:
    """TINY with some of its training knobs changed."""
    return replace(TINY, train=replace(TINY.train, **train))


def cycle_windows(n: int, items: list[int], seed: int) -> Windows:
    """Windows over the cycle items[0] -> items[1] -> ...: the next item is always determined."""
    rng = np.random.default_rng(seed)
    context = np.zeros((n, L), dtype=np.int64)
    target = np.zeros(n, dtype=np.int64)
    for row in range(n):
        start, k = int(rng.integers(len(items))), int(rng.integers(2, L + 1))
        seq = [items[(start + j) % len(items)] for j in range(k + 1)]
        context[row, L - k :] = seq[:-1]
        target[row] = seq[-1]
    return Windows(context, target, np.zeros(n, np.int64), np.arange(n, dtype=np.int64))


@pytest.fixture(scope="module")
def trained() -> tuple[SeqRecBackbone, Windows]:
    vocab = ItemVocab(np.arange(100, 130))  # 30 items, indices 1..30
    windows = cycle_windows(500, list(range(1, 25)), seed=0)  # items 25..30 never seen
    config = tiny(max_epochs=25, patience=3)
    backbone, _ = fit_seqrec(vocab, windows, config)
    return backbone, windows


def test_model_inputs_hand_worked() -> None:
    out = model_inputs(torch.tensor([[0, 0, 5, 6], [7, 8, 9, 1]]))
    assert out["attention_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]
    assert out["position_ids"].tolist() == [[0, 0, 0, 1], [0, 1, 2, 3]]


def test_padding_does_not_leak() -> None:
    backbone = build_seqrec(ItemVocab(np.arange(20)), TINY)
    short = torch.tensor([[0, 3, 4, 5]])
    long = torch.tensor([[0, 0, 0, 3, 4, 5]])
    model = backbone.model.eval()
    a, b = backbone.logits(model, short), backbone.logits(model, long)
    assert a.shape == (1, 21) and a.dtype == torch.float32
    assert torch.allclose(a, b, atol=1e-5)
    ea, eb = backbone.encode(model, short), backbone.encode(model, long)
    assert torch.allclose(ea, eb, atol=1e-5)
    assert not torch.isnan(backbone.logits(model, torch.tensor([[0, 0, 0, 0, 0, 7]]))).any()


def test_encode_is_unit_mean_over_context(trained: tuple[SeqRecBackbone, Windows]) -> None:
    backbone, windows = trained
    context = torch.from_numpy(windows.context[:8])
    keys = backbone.encode(backbone.model, context)
    assert keys.shape == (8, 16) and keys.dtype == torch.float32
    assert torch.allclose(keys.norm(dim=1), torch.ones(8), atol=1e-6)
    with torch.no_grad():
        hidden = backbone.model(**model_inputs(context), output_hidden_states=True).hidden_states[
            -1
        ]
    row = 0
    real = context[row] != 0
    expected = F.normalize(hidden[row][real].mean(dim=0), dim=0)
    assert torch.allclose(keys[row], expected, atol=1e-6)
    array = encode_array(backbone, windows.context[:8], batch_size=3)
    assert array.dtype == np.float32 and np.allclose(array, keys.numpy(), atol=1e-6)


def test_encode_keeps_training_mode_and_no_grad() -> None:
    backbone = build_seqrec(ItemVocab(np.arange(20)), TINY)
    backbone.model.train()
    context = torch.tensor([[0, 1, 2, 3, 4, 5]])
    a = backbone.encode(backbone.model, context)
    assert backbone.model.training and not a.requires_grad
    assert torch.equal(a, backbone.encode(backbone.model, context))  # dropout off inside encode


def test_loss_weighted_mean_hand_check() -> None:
    backbone = build_seqrec(ItemVocab(np.arange(20)), TINY)
    model = backbone.model.eval()
    context = torch.tensor([[0, 0, 1, 2, 3, 4], [0, 5, 6, 7, 8, 9]])
    target = torch.tensor([5, 10])
    logits = backbone.logits(model, context)
    per_row = F.cross_entropy(logits, target, reduction="none")
    assert torch.allclose(backbone.loss(model, context, target), per_row.mean())
    weight = torch.tensor([3.0, 1.0])
    weighted = (3 * per_row[0] + per_row[1]) / 4
    assert torch.allclose(backbone.loss(model, context, target, weight), weighted)


def test_fit_learns_planted_cycle(trained: tuple[SeqRecBackbone, Windows]) -> None:
    backbone, _ = trained
    test = cycle_windows(200, list(range(1, 25)), seed=1)
    logits = backbone.logits(backbone.model, torch.from_numpy(test.context))
    accuracy = float((logits.argmax(dim=1).numpy() == test.target).mean())
    assert accuracy > 0.9  # chance is 1/24
    assert not any(p.requires_grad for p in backbone.model.parameters())
    assert not backbone.model.training


def test_known_items_are_the_setup_items(trained: tuple[SeqRecBackbone, Windows]) -> None:
    backbone, _ = trained
    assert backbone.known_items.shape == (31,)
    assert backbone.known_items[:25].all() and not backbone.known_items[25:].any()
    assert backbone.item_rows() == [25, 26, 27, 28, 29, 30]


def test_fit_is_seeded_and_early_stops() -> None:
    vocab = ItemVocab(np.arange(12))
    windows = cycle_windows(60, list(range(1, 13)), seed=2)
    config = tiny(max_epochs=60, patience=1, lr=0.05)
    a, result = fit_seqrec(vocab, windows, config)
    b, _ = fit_seqrec(vocab, windows, config)
    for (name, pa), pb in zip(
        a.model.state_dict().items(), b.model.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
    assert result.n_val == 6 and result.n_train == 54
    assert result.epochs <= 60 and result.best_epoch <= result.epochs
    assert len(result.val_losses) == result.epochs


def test_save_load_roundtrip(trained: tuple[SeqRecBackbone, Windows], tmp_path: Path) -> None:
    backbone, windows = trained
    backbone.save(tmp_path / "bb")
    assert sorted(p.name for p in (tmp_path / "bb").iterdir()) == [
        "backbone.json",
        "model.safetensors",
    ]
    again = load_backbone(tmp_path / "bb")
    assert isinstance(again, SeqRecBackbone) and again.config == backbone.config
    assert np.array_equal(again.vocab.item_ids, backbone.vocab.item_ids)
    assert np.array_equal(again.known_items, backbone.known_items)
    context = torch.from_numpy(windows.context[:20])
    assert torch.equal(again.logits(again.model, context), backbone.logits(backbone.model, context))


def test_save_load_string_item_ids(tmp_path: Path) -> None:
    vocab = ItemVocab(np.array(["a", "b", "c"], dtype=object))
    backbone = build_seqrec(vocab, TINY)
    backbone.save(tmp_path)
    again = load_seqrec(tmp_path)
    assert again.vocab.item_ids.tolist() == ["a", "b", "c"]


def test_factory_and_errors(tmp_path: Path) -> None:
    backbone = build_backbone("seqrec", ItemVocab(np.arange(5)), TINY)
    assert isinstance(backbone, SeqRecBackbone)
    assert build_backbone(BackboneKind.SEQREC, ItemVocab(np.arange(5)), TINY).name == "seqrec"
    with pytest.raises(RaieConfigError, match="backbone='rnn'"):
        build_backbone("rnn", ItemVocab(np.arange(5)), TINY)
    with pytest.raises(RaieStateError, match="backbone.json"):
        load_backbone(tmp_path)
    with pytest.raises(RaieStateError, match="backbone.json"):
        load_seqrec(tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_embd": 15}, "n_embd=15 should be a multiple of n_head=2"),
        ({"n_layer": 0}, "n_layer=0"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"train": {"val_fraction": -0.1}}, "val_fraction=-0.1"),
        ({"train": {"patience": 0}}, "patience=0"),
        ({"lr": 1e-3}, "unknown config key 'lr'"),  # the knob lives in train now
    ],
)
def test_config_errors(changes: dict, message: str) -> None:
    # config_from_dict builds the nested TrainConfig, as loading a saved backbone does.
    with pytest.raises(RaieConfigError, match=message):
        config_from_dict(SeqRecConfig, changes)


def test_config_defaults_and_dict_round_trip() -> None:
    default = SeqRecConfig()
    assert (default.train.lr, default.train.batch_size) == (2e-3, 256)
    assert (default.train.max_epochs, default.train.patience, default.train.val_fraction) == (
        200,
        3,
        0.1,
    )
    data = config_to_dict(TINY)
    assert data["train"]["lr"] == 5e-3 and "lr" not in data
    assert config_from_dict(SeqRecConfig, data) == TINY


def test_fit_rejects_bad_windows() -> None:
    vocab = ItemVocab(np.arange(5))
    windows = cycle_windows(10, [1, 2, 3, 4, 5, 6], seed=0)  # item 6 is outside the vocab
    with pytest.raises(RaieConfigError, match="outside"):
        fit_seqrec(vocab, windows, TINY)
    with pytest.raises(RaieConfigError, match="max_len=6"):
        fit_seqrec(vocab, windows, SeqRecConfig(max_len=4))


@functools.cache
def ml100k_backbone() -> tuple[SeqRecBackbone, PaperSplit]:
    """The setup-trained backbone on ML-100K (paper preset, max_len 20), built once per session."""
    dataset = load_dataset("ml-100k")
    vocab = build_vocab(dataset.items)
    split = paper_split(dataset.interactions, ProtocolConfig(max_len=20), vocab)
    backbone, result = fit_seqrec(vocab, split.setup_train, SeqRecConfig(max_len=20))
    print(f"\nseqrec setup training: {result.epochs} epochs, best {result.best_epoch}")
    return backbone, split


@pytest.mark.slow
def test_ml100k_backbone_beats_popularity() -> None:
    backbone, split = ml100k_backbone()
    popularity = popularity_scores(split.setup_train.target, backbone.vocab.n_tokens)
    for block, windows in (("T", split.test), ("S held-out", split.setup_heldout)):
        with torch.no_grad():
            scores = backbone.logits(backbone.model, torch.from_numpy(windows.context))
        ours = ranking_metrics(target_ranks(scores, windows.target, windows.context))
        floor = ranking_metrics(
            target_ranks(popularity.expand(len(windows), -1), windows.target, windows.context)
        )
        for name, metrics in (("popularity", floor), ("seqrec", ours)):
            print(block, name, " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        assert ours["NDCG@10"] > floor["NDCG@10"], block
