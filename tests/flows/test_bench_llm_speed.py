"""`flows.benches.llm_speed` on a tiny llm backbone: rates are reported, the model is untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flows.benches.llm_speed import llm_speed
from raie_core.backbones.llm import PROJECTIONS, LLMBackbone, LLMConfig, load_llm_backbone
from raie_core.errors import RaieConfigError
from raie_core.lora import LoraShape
from raie_core.protocol import ItemVocab, Windows
from tests.tiny_llm import save_tiny_llm

VOCAB = ItemVocab(np.array([10, 20, 30, 40, 50], dtype=np.int64))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> LLMBackbone:
    folder = save_tiny_llm(tmp_path_factory.mktemp("tiny-llm"), ["Toy Story", "GoldenEye"])
    config = LLMConfig(
        model_source=str(folder), device="cpu", lora=LoraShape(r=4, targets=PROJECTIONS)
    )
    return load_llm_backbone(VOCAB, None, config)


def _windows(n: int) -> Windows:
    rng = np.random.default_rng(0)
    context = rng.integers(1, 6, size=(n, 4)).astype(np.int64)
    target = ((context[:, -1] % 5) + 1).astype(np.int64)
    return Windows(context, target, np.arange(n), np.arange(n, dtype=np.int64))


def test_llm_speed_reports_positive_rates_and_leaves_the_model_unchanged(tiny) -> None:
    context = torch.from_numpy(_windows(4).context)
    with torch.no_grad():
        before = tiny.logits(tiny.model, context)
    speed = llm_speed(tiny, _windows(12), batch_size=4, n_batches=2)
    assert speed["device"] == "cpu" and speed["dtype"] == "float32" and speed["batch_size"] == 4
    assert speed["n_batches"] == 2
    for key in ("encode_tokens_per_s", "train_tokens_per_s", "mean_prompt_tokens"):
        assert speed[key] > 0
    with torch.no_grad():
        torch.testing.assert_close(tiny.logits(tiny.model, context), before, rtol=0, atol=0)
    assert not any(p.requires_grad for p in tiny.model.parameters())
    with pytest.raises(RaieConfigError, match="should be >= batch_size"):
        llm_speed(tiny, _windows(4), batch_size=4, n_batches=2)
    with pytest.raises(RaieConfigError, match="batch_size=4 and n_batches=0 should be >= 1"):
        llm_speed(tiny, _windows(12), batch_size=4, n_batches=0)
