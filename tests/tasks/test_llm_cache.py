"""`tasks.llm_cache`: the converted base LM is written once under the home and reloaded."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import raie_core.backbones.llm.io as llm_io
from raie_core.backbones.llm import LLMConfig, load_lm_folder
from raie_core.errors import RaieConfigError
from raie_core.protocol import ItemVocab
from tasks.llm_cache import build_cached_llm, cache_dir, cached_base_lm
from tests.tiny_llm import save_tiny_llm

MISSING = LLMConfig(gguf_package="no_such_package_raie", device="cpu")
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_llm(tmp_path_factory.mktemp("tiny-llm"), ["Toy Story", "GoldenEye"])


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_complete_cache_is_loaded_without_the_gguf(tiny_folder: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_folder, cache_dir(tmp_path))
    model, tokenizer = cached_base_lm(MISSING, tmp_path)
    assert model.config.hidden_size == 32 and len(tokenizer) == model.config.vocab_size
    assert not model.training
    with pytest.raises(RaieConfigError, match="gguf_package='no_such_package_raie'"):
        cached_base_lm(MISSING, tmp_path / "empty-home")


def test_the_converted_model_is_written_once_then_reloaded(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def fake_gguf(config: LLMConfig):  # noqa: ANN202 - (model, tokenizer)
        calls.append(config.gguf_file)
        return load_lm_folder(tiny_folder)

    monkeypatch.setattr(llm_io, "_from_gguf", fake_gguf)
    stale = tmp_path / "models.partial"
    stale.mkdir()
    (stale / "junk").write_text("half-written")
    converted, _ = cached_base_lm(MISSING, tmp_path)
    assert calls == [MISSING.gguf_file]
    assert _files(tmp_path) == ["models"]
    assert _files(cache_dir(tmp_path)) == _files(tiny_folder)
    cached, _ = cached_base_lm(MISSING, tmp_path)
    assert calls == [MISSING.gguf_file]
    for name, value in converted.state_dict().items():
        assert torch.equal(value, cached.state_dict()[name]), name


def test_a_model_source_is_loaded_as_is_and_not_cached(tiny_folder: Path, tmp_path: Path) -> None:
    vocab = ItemVocab(np.array([10, 20], dtype=np.int64))
    config = LLMConfig(model_source=str(tiny_folder), device="cpu")
    backbone = build_cached_llm(vocab, config, None, tmp_path)
    assert len(backbone.item_token_ids) == 2 and backbone.known_items.tolist() == [
        True,
        False,
        False,
    ]
    assert not cache_dir(tmp_path).exists()


@pytest.mark.slow
def test_real_smollm2_gguf_is_cached_and_reloads_identically(tmp_path: Path) -> None:
    config = LLMConfig(device="cpu")
    start = time.perf_counter()
    converted, tokenizer = cached_base_lm(config, tmp_path)
    converted_s = time.perf_counter() - start
    start = time.perf_counter()
    cached, _ = cached_base_lm(config, tmp_path)
    reload_s = time.perf_counter() - start
    assert (cache_dir(tmp_path) / "model.safetensors").is_file()
    text = torch.tensor([tokenizer("Recommend a movie like Toy Story").input_ids])
    with torch.no_grad():
        diff = (converted(input_ids=text).logits - cached(input_ids=text).logits).abs().max()
    assert float(diff) == 0.0
    log.info("GGUF -> fp32 -> cache %.1f s, cache reload %.1f s", converted_s, reload_s)
