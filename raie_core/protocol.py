"""Evaluation protocols: positives, item vocabulary, windows, paper (S/F/T) and streaming presets.

DESIGN §2. Item index 0 is PAD; item ``i`` of the vocabulary has index ``i + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raie_core.errors import RaieConfigError


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

    @staticmethod
    def concat(parts: list[Windows]) -> Windows:
        """Row-wise concatenation (all parts share max_len)."""
        return Windows(
            np.concatenate([p.context for p in parts]),
            np.concatenate([p.target for p in parts]),
            np.concatenate([p.user for p in parts]),
            np.concatenate([p.timestamp for p in parts]),
        )
