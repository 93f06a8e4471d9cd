"""A tiny saved causal LM for the `llm` backbone tests: no weights, no download."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from raie_core.backbones.llm.prompt import PromptTemplate


def save_tiny_llm(folder: Path, titles: Sequence[str]) -> Path:
    """Save a tiny Llama (tied embeddings, hidden 32, 2 layers, seed 0) with a byte-level BPE
    tokenizer (vocab 320, ``<pad>`` = id 0) trained on ``titles`` and the default prompt
    prefix into ``folder``; returns it."""
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    corpus = list(titles) + [PromptTemplate().prefix] * 3
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", eos_token="<pad>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
