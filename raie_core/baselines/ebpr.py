"""`ebpr`: Editing-BPR, a recommendation-editing baseline (Lai et al. 2024; DESIGN §5).

An update mines *edit pairs* from the new windows — items the current model ranks in its
top-k that are not the window's target — and edits the item embedding for a fixed number of
steps so that each such "bad" item scores below random items: loss
mean(−log σ(s_neg − s_bad)) over the pairs and their random negatives. The reference
(`E-BPR.py`, research/reference-code.md §6) edits the whole input embedding with Adam and
per-parameter gradient clipping at 1; so does this one, on a copy of the backbone. It only
demotes mistakes: nothing pulls the target up.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from raie_core.backbones.base import Backbone
from raie_core.baselines.base import MethodConfig, as_tensor, batched_logits
from raie_core.evaluation import top_k
from raie_core.protocol import Windows

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class EditPairs:
    """row: (m,) int64 window index of each pair; bad: (m,) int64 item to push down."""

    row: np.ndarray
    bad: np.ndarray

    def __len__(self) -> int:
        return int(len(self.row))


def mine_edit_pairs(
    scores: torch.Tensor, windows: Windows, top: int, per_window: int, max_pairs: int, seed: int
) -> EditPairs:
    """Up to ``per_window`` items per window from its ``top`` best unseen items that are not
    its target (best first); a seeded subset of ``max_pairs`` pairs when there are more."""
    items, _ = top_k(scores, windows.context, top)
    wrong = items != windows.target.astype(np.int64)[:, None]
    keep = wrong & (np.cumsum(wrong, axis=1) <= per_window)
    row, col = np.nonzero(keep)
    if len(row) > max_pairs:
        pick = np.sort(np.random.default_rng(seed).choice(len(row), max_pairs, replace=False))
        row, col = row[pick], col[pick]
    return EditPairs(row=row.astype(np.int64), bad=items[row, col])


def bpr_edit_loss(scores: torch.Tensor, bad: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """mean(−log σ(s_neg − s_bad)): scores (b, V), bad (b,) int64, negatives (b, n) int64."""
    s_bad = scores.gather(1, bad[:, None])
    s_neg = scores.gather(1, negatives)
    return -F.logsigmoid(s_neg - s_bad).mean()


class EditingBPR:
    """`ebpr`: the item embedding of a copy of the backbone, edited on each period's mistakes."""

    name = "ebpr"

    def __init__(self, backbone: Backbone, config: MethodConfig) -> None:
        self.backbone = backbone
        self.config = config
        self.model = copy.deepcopy(backbone.model).requires_grad_(False).eval()

    def setup(self, old: Windows, seed: int) -> None:
        """Nothing to prepare: the copy starts as the setup backbone."""

    def update(self, new: Windows, old: Windows, seed: int) -> None:
        """Mine the edit pairs of ``new`` with the current model, then edit the embedding."""
        cfg = self.config.ebpr
        pairs = mine_edit_pairs(
            self.scores(new.context), new, cfg.top, cfg.per_window, cfg.max_pairs, seed
        )
        if len(pairs) == 0:
            logger.info("ebpr: no edit pairs in %d windows", len(new))
            return
        weight = self.model.get_input_embeddings().weight
        weight.requires_grad_(True)
        optimizer = torch.optim.Adam([weight], lr=cfg.lr)
        rng = np.random.default_rng(seed)
        for _ in range(cfg.steps):
            pick = rng.choice(len(pairs), size=min(cfg.batch_size, len(pairs)), replace=False)
            negatives = rng.integers(
                1, self.backbone.vocab.n_tokens, size=(len(pick), cfg.negatives)
            )
            scores = self.backbone.logits(self.model, as_tensor(new.context[pairs.row[pick]]))
            loss = bpr_edit_loss(scores, as_tensor(pairs.bad[pick]), as_tensor(negatives))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([weight], cfg.grad_clip)
            optimizer.step()
        weight.requires_grad_(False)
        logger.info("ebpr: %d pairs, %d steps, last loss %.4f", len(pairs), cfg.steps, loss)

    def scores(self, context: np.ndarray) -> torch.Tensor:
        return batched_logits(self.backbone, self.model, context, self.config.score_batch)
