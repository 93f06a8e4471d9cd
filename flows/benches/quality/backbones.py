"""The backbone every method of a seed shares: trained once per seed, seqrec ones cached
under <home>/bench/backbones by content key."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from flows.benches.quality.plans import Plan
from raie_core.errors import RaieConfigError

logger = logging.getLogger(__name__)


def backbone_cache(args: argparse.Namespace) -> Path | None:
    """The seqrec backbone cache folder, or None with ``--no-backbone-cache`` or the llm."""
    from flows.env import raie_home

    if args.no_backbone_cache or args.backbone == "llm":
        return None
    return raie_home(args.home) / "bench" / "backbones"


def backbone_key(plan: Plan, vocab: Any, config: Any) -> str:
    """Content key of a trained backbone: its config, the training windows and the vocabulary."""
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    for array in (plan.train.context, plan.train.target, np.asarray(vocab.item_ids)):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def seqrec_config(plan: Plan, pipeline: Any, seed: int) -> Any:
    """The seqrec config a seed's backbone trains with: the pipeline's, at the plan's length."""
    return dataclasses.replace(pipeline.seqrec, max_len=plan.train.max_len, seed=seed)


def train_backbone(
    plan: Plan,
    vocab: Any,
    catalog: Any,
    args: argparse.Namespace,
    pipeline: Any,
    seed: int,
    cache: Path | None,
) -> tuple[Any, bool]:
    """The seed's trained backbone and whether it came from ``cache``.

    seqrec: ``pipeline.seqrec`` (seeded ``seed``) trained on every setup window and saved in
    ``cache`` (renamed into place only once complete). llm: the pretrained LM (safetensors copy under <home>/models) set up on
    a seeded ``--max-windows`` budget; never cached (hundreds of MB per seed).
    """
    if args.backbone == "llm":
        from flows.env import raie_home
        from raie_core.backbones.llm import setup_llm
        from tasks.llm_cache import build_cached_llm

        config = pipeline.llm
        lm = build_cached_llm(vocab, config, catalog, raie_home(args.home))
        backbone, result = setup_llm(lm, plan.train, config, seed)
        logger.info("llm seed %d: %d windows, losses %s", seed, result.n_train, result.train_losses)
        return backbone, False
    if args.max_windows is not None:
        raise RaieConfigError(
            f"--max-windows {args.max_windows} is the llm setup budget: seqrec trains on every window"
        )
    from raie_core.backbones import load_backbone
    from raie_core.backbones.seqrec import fit_seqrec

    config = seqrec_config(plan, pipeline, seed)
    folder = None if cache is None else cache / f"seqrec-{backbone_key(plan, vocab, config)}"
    if folder is not None and (folder / "backbone.json").is_file():
        logger.info("backbone seed %d: reused %s", seed, folder)
        return load_backbone(folder), True
    backbone, result = fit_seqrec(vocab, plan.train, config)
    logger.info("backbone seed %d: %d epochs", seed, result.epochs)
    if folder is not None:
        _publish(backbone, folder)
    return backbone, False


def _publish(backbone: Any, folder: Path) -> None:
    """Save ``backbone`` to a draft folder and rename it to ``folder`` (complete or absent)."""
    draft = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(draft, ignore_errors=True)
    backbone.save(draft)
    try:
        draft.rename(folder)
    except OSError:  # another run cached the same backbone meanwhile
        shutil.rmtree(draft, ignore_errors=True)
