"""Throughput of the `llm` backbone: prompt tokens per second of ``encode`` and of LoRA
training steps (used by `raie bench speed --backbone llm`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from peft import get_peft_model

from raie_core.backbones.llm import LLMBackbone, compute_dtype, lora_config
from raie_core.errors import RaieConfigError
from raie_core.protocol import Windows


def llm_speed(
    backbone: LLMBackbone,
    windows: Windows,
    batch_size: int | None = None,
    n_batches: int = 3,
    seed: int = 0,
) -> dict[str, float | int | str]:
    """Throughput of ``encode`` and of LoRA training steps, in prompt tokens per second.

    Runs one warm-up batch, then ``n_batches`` timed batches of ``batch_size`` windows
    (default ``config.train.batch_size``) for each. Training uses a temporary LoRA with the
    config's targets (forward, backward, AdamW step), removed afterwards (``unload``), so
    ``backbone.model`` is left as it was. Returns device, dtype, batch_size, n_batches,
    mean_prompt_tokens, encode_tokens_per_s, encode_windows_per_s, train_tokens_per_s,
    train_windows_per_s.
    """
    size = batch_size or backbone.config.train.batch_size
    if size < 1 or n_batches < 1:
        raise RaieConfigError(f"batch_size={size} and n_batches={n_batches} should be >= 1")
    if len(windows) < size * (n_batches + 1):
        raise RaieConfigError(
            f"windows={len(windows)} should be >= batch_size * (n_batches + 1) = "
            f"{size * (n_batches + 1)}"
        )
    context = torch.from_numpy(np.ascontiguousarray(windows.context, dtype=np.int64))
    target = torch.from_numpy(np.ascontiguousarray(windows.target, dtype=np.int64))
    batches = [slice(k * size, (k + 1) * size) for k in range(n_batches + 1)]
    tokens = sum(backbone.prompts(context[b]).n_tokens for b in batches[1:])
    encode_s = _timed(backbone, batches, lambda b: backbone.encode(backbone.model, context[b]))
    train_s = _train_seconds(backbone, context, target, batches, seed)
    return {
        "device": str(backbone.device),
        "dtype": str(compute_dtype(backbone.config, backbone.device)).removeprefix("torch."),
        "batch_size": size,
        "n_batches": n_batches,
        "mean_prompt_tokens": tokens / (size * n_batches),
        "encode_tokens_per_s": tokens / encode_s,
        "encode_windows_per_s": size * n_batches / encode_s,
        "train_tokens_per_s": tokens / train_s,
        "train_windows_per_s": size * n_batches / train_s,
    }


def _timed(backbone: LLMBackbone, batches: list[slice], step: Any) -> float:
    """Seconds for ``step`` over batches[1:], after one untimed warm-up on batches[0]."""
    step(batches[0])
    _sync(backbone.device)
    start = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    _sync(backbone.device)
    return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_seconds(
    backbone: LLMBackbone,
    context: torch.Tensor,
    target: torch.Tensor,
    batches: list[slice],
    seed: int,
) -> float:
    config = backbone.config
    lora = lora_config(config, None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(backbone.model, lora)
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.train.lr)
        peft_model.train()

        def step(batch: slice) -> None:
            optimizer.zero_grad(set_to_none=True)
            backbone.loss(peft_model, context[batch], target[batch]).backward()
            optimizer.step()

        seconds = _timed(backbone, batches, step)
    peft_model.unload().eval()
    return seconds
