"""Evaluation protocols: positives, item vocabulary, windows, paper (S/F/T) and streaming presets.

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
        _require(math.isfinite(self.positive_threshold), "positive_threshold", "finite")
        _require(self.max_len >= 1, f"max_len={self.max_len}", ">= 1")
        if self.min_context is not None:
            _require(
                1 <= self.min_context <= self.max_len,
                f"min_context={self.min_context}",
                f"in [1, max_len={self.max_len}]",
            )
        _require(self.stride >= 1, f"stride={self.stride}", ">= 1")
        _require(self.train_stride >= 1, f"train_stride={self.train_stride}", ">= 1")
        _require(
            1 <= self.train_min_context <= self.max_len,
            f"train_min_context={self.train_min_context}",
            f"in [1, max_len={self.max_len}]",
        )
        _require(
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


@dataclass(frozen=True, eq=False)
class _Seq:
    """Positives as aligned arrays, sorted by (user, timestamp, item); all shapes (n,)."""

    user: np.ndarray
    ucode: np.ndarray
    item: np.ndarray
    ts: np.ndarray


def _require(ok: bool, what: str, rule: str) -> None:
    if not ok:
        raise RaieConfigError(f"{what} should be {rule}")


def _seconds(point: TimePoint) -> int:
    """An int (UTC seconds), a date (midnight UTC) or a datetime (naive = UTC) -> seconds."""
    if isinstance(point, datetime.datetime):
        aware = point if point.tzinfo else point.replace(tzinfo=datetime.UTC)
        return int(aware.timestamp())
    if isinstance(point, datetime.date):
        return _seconds(datetime.datetime(point.year, point.month, point.day))
    return int(point)


def _check_columns(frame: pl.DataFrame) -> None:
    missing = [c for c in (USER, ITEM, TIME) if c not in frame.columns]
    if missing:
        raise RaieDataError(f"interactions lack column(s) {missing}")
    if not frame.schema[TIME].is_integer():
        raise RaieDataError(
            f"column {TIME} should be integer UTC seconds, got {frame.schema[TIME]}"
        )


def positives(interactions: pl.DataFrame, config: ProtocolConfig) -> pl.DataFrame:
    """Positive interactions, sorted deterministically by (user_id, timestamp, item_id).

    Keeps rows with rating >= positive_threshold when a rating column with at least one value
    exists (rows with a null rating then drop out); otherwise every row (implicit feedback).
    Returns columns user_id, item_id, timestamp. The item_id tie-break matters: ML-100K has
    76 % of positives sharing a timestamp with another positive of the same user.
    """
    _check_columns(interactions)
    frame = interactions
    if RATING in frame.columns and frame[RATING].null_count() < frame.height:
        frame = frame.filter(pl.col(RATING) >= config.positive_threshold)
    return frame.select(USER, ITEM, TIME).sort([USER, TIME, ITEM])


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


def _sequences(frame: pl.DataFrame, vocab: ItemVocab) -> _Seq:
    """Arrays of a frame already sorted by (user_id, timestamp, item_id)."""
    ucode = frame[USER].rle_id().to_numpy().astype(np.int64)
    item = vocab.encode(frame[ITEM].to_numpy())
    return _Seq(frame[USER].to_numpy(), ucode, item, frame[TIME].to_numpy().astype(np.int64))


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """(n,) int64: index of the first row of each row's run of equal keys (rows sorted)."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.maximum.accumulate(np.where(change, np.arange(n, dtype=np.int64), 0))


def _select_targets(
    ucode: np.ndarray, ctx_start: np.ndarray, eligible: np.ndarray, min_context: int, stride: int
) -> np.ndarray:
    """Target rows (m,) int64: eligible rows with >= min_context history rows since ctx_start,
    every stride-th counted back from each user's last such row (end-aligned).

    Assumes each user's eligible rows are contiguous (a time range), as all callers ensure.
    """
    rows = np.arange(len(ucode), dtype=np.int64)
    cand = np.flatnonzero(eligible & (rows - ctx_start >= min_context))
    if cand.size == 0:
        return cand.astype(np.int64)
    users = ucode[cand]
    first = np.ones(cand.size, dtype=bool)
    first[1:] = users[1:] != users[:-1]
    last_row = cand[np.append(first[1:], True)]
    group = np.cumsum(first) - 1
    return cand[(last_row[group] - cand) % stride == 0]


def _gather(seq: _Seq, ctx_start: np.ndarray, targets: np.ndarray, max_len: int) -> Windows:
    """Windows for target rows: the max_len rows before each (from ctx_start on), left-padded."""
    context = np.zeros((targets.size, max_len), dtype=np.int64)
    start = ctx_start[targets]
    for back in range(1, max_len + 1):
        source = targets - back
        ok = source >= start
        context[ok, max_len - back] = seq.item[source[ok]]
    return Windows(context, seq.item[targets], seq.user[targets], seq.ts[targets])


def _last_per_user(targets: np.ndarray, ucode: np.ndarray) -> np.ndarray:
    """The last of each user's target rows (targets sorted ascending)."""
    if targets.size == 0:
        return targets
    users = ucode[targets]
    return targets[np.append(users[1:] != users[:-1], True)]


def _setup_targets(
    ucode: np.ndarray, ctx_start: np.ndarray, eligible: np.ndarray, config: ProtocolConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target rows of (setup, setup_heldout, setup_train) over the eligible (set-up) rows.

    The held-out row of a user is the target of their last stride window; training targets
    are the train_stride rows strictly before it (all of a user's rows when none is held out).
    """
    evals = _select_targets(ucode, ctx_start, eligible, config.context_min, config.stride)
    held = _last_per_user(evals, ucode) if config.holdout_last_setup else evals[:0]
    limit = np.full(int(ucode[-1]) + 1 if ucode.size else 0, len(ucode), dtype=np.int64)
    limit[ucode[held]] = held
    before_held = np.arange(len(ucode), dtype=np.int64) < limit[ucode]
    train = _select_targets(
        ucode, ctx_start, eligible & before_held, config.train_min_context, config.train_stride
    )
    return evals[evals < limit[ucode[evals]]], held, train


def _cut_points(ts: np.ndarray, config: ProtocolConfig) -> tuple[int, int]:
    """t^S, t^F: numpy 'linear' quantiles truncated to int, as the reference code computes
    them (ML-100K: 882567058, 889396541); t^F is at least t^S + 1."""
    if ts.size == 0:
        raise RaieDataError("no positive interactions to split")
    t_setup = int(np.quantile(ts, config.setup_quantile, method="linear"))
    t_finetune = int(np.quantile(ts, config.finetune_quantile, method="linear"))
    return t_setup, max(t_finetune, t_setup + 1)


def _block_stats(ucode: np.ndarray, in_block: np.ndarray, targets: np.ndarray) -> BlockStats:
    n_users = int(ucode[-1]) + 1 if ucode.size else 0
    users = np.bincount(ucode[in_block], minlength=n_users) > 0
    window_users = np.bincount(ucode[targets], minlength=n_users) > 0
    return BlockStats(int(in_block.sum()), int(users.sum()), int(window_users.sum()))


def paper_split(interactions: pl.DataFrame, config: ProtocolConfig, vocab: ItemVocab) -> PaperSplit:
    """The paper preset: positives cut at global quantiles into S, F, T and windowed.

    S = t < t^S, F = t^S <= t < t^F, T = t >= t^F. Evaluation windows use stride and
    context_min, end-aligned per user and block; F/T context stays in its block unless
    cross_blocks. With max_len 20 on ML-100K: setup + setup_heldout = 3,929 windows.
    """
    seq = _sequences(positives(interactions, config), vocab)
    t_setup, t_finetune = _cut_points(seq.ts, config)
    block = (seq.ts >= t_setup).astype(np.int8) + (seq.ts >= t_finetune).astype(np.int8)
    block_start = _run_starts(seq.ucode, block)
    late_start = _run_starts(seq.ucode) if config.cross_blocks else block_start
    kept, held, train = _setup_targets(seq.ucode, block_start, block == 0, config)
    late = [
        _select_targets(seq.ucode, late_start, block == b, config.context_min, config.stride)
        for b in (1, 2)
    ]
    stats = {
        Block.SETUP: _block_stats(seq.ucode, block == 0, np.concatenate([kept, held])),
        Block.FINETUNE: _block_stats(seq.ucode, block == 1, late[0]),
        Block.TEST: _block_stats(seq.ucode, block == 2, late[1]),
    }
    return PaperSplit(
        setup=_gather(seq, block_start, kept, config.max_len),
        setup_heldout=_gather(seq, block_start, held, config.max_len),
        setup_train=_gather(seq, block_start, train, config.max_len),
        finetune=_gather(seq, late_start, late[0], config.max_len),
        test=_gather(seq, late_start, late[1], config.max_len),
        t_setup=t_setup,
        t_finetune=t_finetune,
        stats=stats,
    )


def streaming_setup(
    interactions: pl.DataFrame, until: TimePoint, config: ProtocolConfig, vocab: ItemVocab
) -> tuple[Windows, Windows]:
    """(setup_train, setup_heldout) over the positives before `until` (streaming preset).

    interactions: raw interactions or positives() output (filtered and sorted here, so ratings
    below positive_threshold never enter a window). The held-out set is each user's last
    stride window (context_min .. max_len items of context); setup_train holds the
    train_stride windows whose target precedes it.
    """
    frame = positives(interactions, config).filter(pl.col(TIME) < _seconds(until))
    seq = _sequences(frame, vocab)
    user_start = _run_starts(seq.ucode)
    everything = np.ones(len(seq.ucode), dtype=bool)
    _, held, train = _setup_targets(seq.ucode, user_start, everything, config)
    return (
        _gather(seq, user_start, train, config.max_len),
        _gather(seq, user_start, held, config.max_len),
    )


def period_windows(
    history: pl.DataFrame,
    period: tuple[TimePoint, TimePoint],
    config: ProtocolConfig,
    vocab: ItemVocab,
) -> Windows:
    """Windows whose targets lie in period = [start, end) and whose context reaches back into
    the user's earlier positives in history; end-aligned per user, stride, context_min.

    history: raw interactions or positives() output, up to at least the period's end (later
    rows are ignored); it is filtered to positives and sorted here.
    """
    start, end = _seconds(period[0]), _seconds(period[1])
    _require(start < end, f"period=({start}, {end})", "a non-empty [start, end) range")
    frame = positives(history, config).filter(pl.col(TIME) < end)
    seq = _sequences(frame, vocab)
    user_start = _run_starts(seq.ucode)
    targets = _select_targets(
        seq.ucode, user_start, seq.ts >= start, config.context_min, config.stride
    )
    return _gather(seq, user_start, targets, config.max_len)


def cut_points(interactions: pl.DataFrame, config: ProtocolConfig) -> tuple[int, int]:
    """(t^S, t^F) in UTC seconds: the setup / finetune quantiles of the positive timestamps,
    as `paper_split` cuts them, without building any window (t^S: the streaming default)."""
    frame = positives(interactions, config)
    return _cut_points(frame[TIME].to_numpy(), config)


def latest_context(
    interactions: pl.DataFrame, users: list, config: ProtocolConfig, vocab: ItemVocab
) -> np.ndarray:
    """(len(users), max_len) int64: each user's latest positives, left-padded (no target).

    A user without positives gets an all-PAD row (the base then ranks by its prior).
    """
    frame = positives(interactions, config)
    rows = np.zeros((len(users), config.max_len), dtype=np.int64)
    for i, user in enumerate(users):
        items = frame.filter(pl.col(USER) == user)[ITEM].to_numpy()[-config.max_len :]
        if items.size:
            rows[i, config.max_len - items.size :] = vocab.encode(items)
    return rows
