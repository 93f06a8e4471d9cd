"""Protocol values: the item vocabulary, windows, the protocol config and the paper split.

DESIGN §2. Item index 0 is PAD; item ``i`` of the vocabulary has index ``i + 1``.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import polars as pl

from raie_core.errors import RaieConfigError, RaieDataError


@dataclass(frozen=True, eq=False)
class ItemVocab:
    """The item vocabulary: raw item ids in index order (index = position + 1, 0 = PAD).

    Built from the whole catalog, so items first seen after setup are indexable from the start.
    item_ids: (n_items,) raw ids (int64 or object/str), unique.
    """

    item_ids: np.ndarray

    def __post_init__(self) -> None:
        if len(np.unique(self.item_ids)) != len(self.item_ids):
            raise RaieConfigError("ItemVocab item_ids must be unique")

    @property
    def n_items(self) -> int:
        return int(len(self.item_ids))

    @property
    def n_tokens(self) -> int:
        """Vocabulary size including PAD (= n_items + 1)."""
        return self.n_items + 1

    def encode(self, raw_ids: np.ndarray) -> np.ndarray:
        """Raw ids (n,) -> indices (n,) int64; raises RaieConfigError on an unknown id."""
        order = np.argsort(self.item_ids, kind="stable")
        sorted_ids = self.item_ids[order]
        raw = np.asarray(raw_ids, dtype=self.item_ids.dtype)
        pos = np.searchsorted(sorted_ids, raw)
        pos = np.clip(pos, 0, len(sorted_ids) - 1)
        found = sorted_ids[pos] == raw
        if not np.all(found):
            missing = raw[~found][:5].tolist()
            raise RaieConfigError(f"item ids {missing} are not in the vocabulary")
        return (order[pos] + 1).astype(np.int64)

    def decode(self, index: np.ndarray) -> np.ndarray:
        """Indices (n,) in [1, n_items] -> raw ids (n,)."""
        return self.item_ids[np.asarray(index, dtype=np.int64) - 1]


@dataclass(frozen=True, eq=False)
class Windows:
    """A set of next-item windows.

    context: (n, max_len) int64 item indices, left-padded with 0 (PAD)
    target: (n,) int64 item index of the next item
    user: (n,) raw user ids
    timestamp: (n,) int64 UTC seconds of the target interaction
    """

    context: np.ndarray
    target: np.ndarray
    user: np.ndarray
    timestamp: np.ndarray

    def __len__(self) -> int:
        return int(len(self.target))

    @property
    def max_len(self) -> int:
        return int(self.context.shape[1])

    def subset(self, index: np.ndarray) -> Windows:
        """Rows selected by an integer or boolean index."""
        return Windows(
            self.context[index], self.target[index], self.user[index], self.timestamp[index]
        )

    def sample(self, max_windows: int | None, seed: int) -> Windows:
        """A seeded random subset of at most ``max_windows`` rows, in their order (None = all)."""
        if max_windows is None or len(self) <= max_windows:
            return self
        rows = np.random.default_rng(seed).choice(len(self), size=max_windows, replace=False)
        return self.subset(np.sort(rows))

    @staticmethod
    def concat(parts: list[Windows]) -> Windows:
        """Row-wise concatenation (all parts share max_len)."""
        return Windows(
            np.concatenate([p.context for p in parts]),
            np.concatenate([p.target for p in parts]),
            np.concatenate([p.user for p in parts]),
            np.concatenate([p.timestamp for p in parts]),
        )


def require(ok: bool, what: str, rule: str) -> None:
    """Raise RaieConfigError("<what> should be <rule>") unless ``ok``."""
    if not ok:
        raise RaieConfigError(f"{what} should be {rule}")


USER, ITEM, TIME, RATING = "user_id", "item_id", "timestamp", "rating"
TimePoint = int | datetime.date | datetime.datetime


class Block(Enum):
    """The paper preset's blocks: set-up S (t < t^S), finetune F, test T (t >= t^F)."""

    SETUP = "S"
    FINETUNE = "F"
    TEST = "T"


@dataclass(frozen=True)
class ProtocolConfig:
    """How interactions become next-item windows (DESIGN §2).

    positive_threshold: rating >= this is a positive (used only when ratings exist).
    max_len: context items per window; a window is max_len context items + 1 target.
    min_context: fewest real context items an evaluation window may have (left-padded below
        max_len); None means max_len, the paper's rule (a window needs a full context).
    stride: step between evaluation windows, end-aligned (the last one ends at the last item).
    setup_quantile / finetune_quantile: global quantiles of positive timestamps giving t^S, t^F.
    cross_blocks: False = F/T context stays inside its block (paper); True = it may reach back
        into earlier blocks (what production does).
    holdout_last_setup: hold the last set-up window of each user out (retention set).
    train_stride / train_min_context: stride and minimum context of backbone training windows.
    """

    positive_threshold: float = 4.0
    max_len: int = 20
    min_context: int | None = None
    stride: int = 5
    setup_quantile: float = 0.5
    finetune_quantile: float = 0.8
    cross_blocks: bool = False
    holdout_last_setup: bool = True
    train_stride: int = 1
    train_min_context: int = 1

    def __post_init__(self) -> None:
        require(math.isfinite(self.positive_threshold), "positive_threshold", "finite")
        require(self.max_len >= 1, f"max_len={self.max_len}", ">= 1")
        if self.min_context is not None:
            require(
                1 <= self.min_context <= self.max_len,
                f"min_context={self.min_context}",
                f"in [1, max_len={self.max_len}]",
            )
        require(self.stride >= 1, f"stride={self.stride}", ">= 1")
        require(self.train_stride >= 1, f"train_stride={self.train_stride}", ">= 1")
        require(
            1 <= self.train_min_context <= self.max_len,
            f"train_min_context={self.train_min_context}",
            f"in [1, max_len={self.max_len}]",
        )
        require(
            0.0 < self.setup_quantile < self.finetune_quantile < 1.0,
            f"setup_quantile={self.setup_quantile}, finetune_quantile={self.finetune_quantile}",
            "0 < setup_quantile < finetune_quantile < 1",
        )

    @property
    def context_min(self) -> int:
        """The effective minimum context of evaluation windows (min_context or max_len)."""
        return self.max_len if self.min_context is None else self.min_context


@dataclass(frozen=True)
class BlockStats:
    """Counts of one block: positives, users with any positive, users with >= 1 window."""

    positives: int
    users: int
    window_users: int


@dataclass(frozen=True, eq=False)
class PaperSplit:
    """The paper preset (S/F/T). setup + setup_heldout are the reference code's S windows.

    setup: stride windows over S except each user's last one; setup_heldout: that last one
    (retention set, never trained on); setup_train: train_stride windows over S whose target
    precedes the user's held-out target; finetune / test: F and T windows.
    t_setup, t_finetune: the cut points t^S, t^F (UTC seconds); stats: per-block counts.
    """

    setup: Windows
    setup_heldout: Windows
    setup_train: Windows
    finetune: Windows
    test: Windows
    t_setup: int
    t_finetune: int
    stats: dict[Block, BlockStats]


def build_vocab(items_or_interactions: pl.DataFrame | pl.Series | np.ndarray) -> ItemVocab:
    """The vocabulary of every distinct item id (catalog or interactions), sorted ascending."""
    if isinstance(items_or_interactions, pl.DataFrame):
        if ITEM not in items_or_interactions.columns:
            raise RaieDataError(f"the item table lacks column {ITEM}")
        items_or_interactions = items_or_interactions[ITEM]
    if isinstance(items_or_interactions, pl.Series):
        if items_or_interactions.null_count():
            raise RaieDataError(f"column {ITEM} has null values")
        items_or_interactions = items_or_interactions.unique().to_numpy()
    return ItemVocab(np.unique(np.asarray(items_or_interactions)))
