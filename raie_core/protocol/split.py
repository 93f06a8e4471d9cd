"""Evaluation protocols: positives, windows, the paper (S/F/T) and streaming presets.

DESIGN §2. Windows per user over positives sorted by (timestamp, item_id).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from raie_core.errors import RaieConfigError, RaieDataError
from raie_core.protocol.values import (
    ITEM,
    RATING,
    TIME,
    USER,
    Block,
    BlockStats,
    ItemVocab,
    PaperSplit,
    ProtocolConfig,
    TimePoint,
    Windows,
    require,
)


@dataclass(frozen=True, eq=False)
class _Seq:
    """Positives as aligned arrays, sorted by (user, timestamp, item); all shapes (n,)."""

    user: np.ndarray
    ucode: np.ndarray
    item: np.ndarray
    ts: np.ndarray


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
    require(start < end, f"period=({start}, {end})", "a non-empty [start, end) range")
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


def latest_items(
    interactions: pl.DataFrame, users: list, config: ProtocolConfig
) -> list[np.ndarray]:
    """Each user's latest ``max_len`` positive raw item ids, oldest first (empty: none)."""
    frame = positives(interactions, config)
    return [
        frame.filter(pl.col(USER) == user)[ITEM].to_numpy()[-config.max_len :] for user in users
    ]


def encode_contexts(histories: Sequence[Sequence], vocab: ItemVocab, max_len: int) -> np.ndarray:
    """Raw item-id histories (most recent last) -> (n, max_len) int64 left-padded indices of
    each history's last ``max_len`` items; an empty history is an all-PAD row (the base then
    ranks by its prior). Raises RaieConfigError naming ids that are not in ``vocab``."""
    if max_len < 1:
        raise RaieConfigError(f"max_len={max_len} should be >= 1")
    rows = np.zeros((len(histories), max_len), dtype=np.int64)
    for i, history in enumerate(histories):
        items = np.asarray(list(history), dtype=vocab.item_ids.dtype)[-max_len:]
        if items.size:
            rows[i, max_len - items.size :] = vocab.encode(items)
    return rows


def latest_context(
    interactions: pl.DataFrame, users: list, config: ProtocolConfig, vocab: ItemVocab
) -> np.ndarray:
    """(len(users), max_len) int64: each user's latest positives, left-padded (no target)."""
    return encode_contexts(latest_items(interactions, users, config), vocab, config.max_len)
