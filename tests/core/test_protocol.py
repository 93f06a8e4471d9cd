"""raie_core.protocol: config validation, positives, vocabulary, windows, paper and streaming presets."""

from __future__ import annotations

import dataclasses
import datetime
from itertools import groupby

import numpy as np
import polars as pl
import pytest

from raie_core.errors import RaieConfigError, RaieDataError
from raie_core.protocol import (
    Block,
    ItemVocab,
    ProtocolConfig,
    Windows,
    build_vocab,
    paper_split,
    period_windows,
    positives,
    streaming_setup,
)


def _frame(rows: list[tuple], rating: bool = True) -> pl.DataFrame:
    """rows: (user, item, timestamp[, rating]) -> interactions frame in the raie schema."""
    columns = ["user_id", "item_id", "timestamp"] + (["rating"] if rating else [])
    schema = dict.fromkeys(columns[:3], pl.Int64) | ({"rating": pl.Float64} if rating else {})
    return pl.DataFrame(rows, schema=schema, orient="row")


def _one_user(n: int, user: int = 7, t0: int = 100) -> pl.DataFrame:
    """One user, items 1..n at timestamps t0+1..t0+n, all positive."""
    return _frame([(user, i, t0 + i, 5.0) for i in range(1, n + 1)])


# --- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_len", 0, "max_len=0 should be >= 1"),
        ("min_context", 0, "min_context=0 should be in [1, max_len=20]"),
        ("min_context", 21, "min_context=21 should be in [1, max_len=20]"),
        ("stride", 0, "stride=0 should be >= 1"),
        ("train_stride", -1, "train_stride=-1 should be >= 1"),
        ("train_min_context", 0, "train_min_context=0 should be in [1, max_len=20]"),
        ("setup_quantile", 0.9, "setup_quantile=0.9, finetune_quantile=0.8 should be"),
        ("positive_threshold", float("nan"), "positive_threshold should be finite"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(RaieConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ProtocolConfig(**{field: value})


def test_config_defaults_and_context_min() -> None:
    config = ProtocolConfig()
    assert (config.max_len, config.stride, config.context_min) == (20, 5, 20)
    assert ProtocolConfig(max_len=50).context_min == 50
    assert ProtocolConfig(max_len=50, min_context=3).context_min == 3
    # replace() keeps min_context unresolved, so a new max_len moves the default with it
    assert dataclasses.replace(config, max_len=8).context_min == 8


# --- positives and vocabulary ---------------------------------------------------------------


def test_positives_filter_and_deterministic_tie_order() -> None:
    frame = _frame(
        [(2, 9, 50, 5.0), (1, 5, 10, 4.0), (1, 3, 10, 4.5), (1, 4, 5, 3.0), (2, 1, 50, 4.0)]
    )
    out = positives(frame, ProtocolConfig())
    assert out.columns == ["user_id", "item_id", "timestamp"]
    assert out.rows() == [(1, 3, 10), (1, 5, 10), (2, 1, 50), (2, 9, 50)]


def test_positives_implicit_data_keeps_every_row() -> None:
    frame = _frame([(1, 2, 3), (1, 1, 3)], rating=False)
    assert positives(frame, ProtocolConfig()).rows() == [(1, 1, 3), (1, 2, 3)]
    nulls = frame.with_columns(rating=pl.lit(None, dtype=pl.Float64))
    assert positives(nulls, ProtocolConfig()).height == 2


def test_positives_missing_column_is_a_data_error() -> None:
    with pytest.raises(RaieDataError, match="timestamp"):
        positives(pl.DataFrame({"user_id": [1], "item_id": [2]}), ProtocolConfig())


def test_build_vocab_is_sorted_catalog() -> None:
    vocab = build_vocab(pl.DataFrame({"item_id": [30, 10, 20, 10]}))
    assert vocab.item_ids.tolist() == [10, 20, 30]
    assert vocab.encode(np.array([20, 10])).tolist() == [2, 1]
    assert vocab.n_tokens == 4
    assert build_vocab(np.array(["b", "a"])).item_ids.tolist() == ["a", "b"]


# --- windows: hand-worked -------------------------------------------------------------------


def test_streaming_windows_end_aligned_with_left_padding() -> None:
    """13 items, max_len 3, min_context 2, stride 5: targets at rows 12, 7, 2 (end-aligned)."""
    config = ProtocolConfig(max_len=3, min_context=2, stride=5)
    history = _one_user(13)
    vocab = build_vocab(np.arange(1, 14))
    win = period_windows(history, (0, 10**6), config, vocab)
    assert win.target.tolist() == [3, 8, 13]
    assert win.context.tolist() == [[0, 1, 2], [5, 6, 7], [10, 11, 12]]
    assert win.timestamp.tolist() == [103, 108, 113]
    assert win.user.tolist() == [7, 7, 7]


def test_period_windows_context_reaches_back_into_history() -> None:
    config = ProtocolConfig(max_len=4, min_context=1, stride=1)
    history = _one_user(10)
    vocab = build_vocab(np.arange(1, 11))
    win = period_windows(history, (109, 111), config, vocab)  # targets: items 9 and 10
    assert win.target.tolist() == [9, 10]
    assert win.context.tolist() == [[5, 6, 7, 8], [6, 7, 8, 9]]
    later = period_windows(history, (datetime.datetime(1970, 1, 1, 0, 1, 50), 10**6), config, vocab)
    assert later.target.tolist() == [10]
    negatives = history.with_columns(
        rating=pl.when(pl.col("item_id") == 9).then(2.0).otherwise(5.0)
    )
    assert period_windows(negatives, (109, 111), config, vocab).context.tolist() == [[5, 6, 7, 8]]
    empty = period_windows(history, (500, 600), config, vocab)
    assert len(empty) == 0 and empty.context.shape == (0, 4)
    with pytest.raises(RaieConfigError, match="period"):
        period_windows(history, (5, 5), config, vocab)


def test_streaming_setup_holds_out_the_last_window() -> None:
    config = ProtocolConfig(max_len=3, stride=2, train_min_context=1)
    history = _one_user(9)
    vocab = build_vocab(np.arange(1, 10))
    train, held = streaming_setup(history, 108, config, vocab)  # items 1..7 before the cut
    assert held.target.tolist() == [7]
    assert held.context.tolist() == [[4, 5, 6]]
    assert train.target.tolist() == [2, 3, 4, 5, 6]
    assert train.context.tolist()[:2] == [[0, 0, 1], [0, 1, 2]]
    assert 7 not in train.target.tolist()
    no_hold = dataclasses.replace(config, holdout_last_setup=False)
    train_all, held_none = streaming_setup(history, datetime.date(1970, 1, 2), no_hold, vocab)
    assert len(held_none) == 0 and held_none.max_len == 3
    assert train_all.target.tolist() == [2, 3, 4, 5, 6, 7, 8, 9]


def test_paper_split_hand_worked() -> None:
    """User 1: items 1..10 at t = 1..10, user 2: items 11..14 at t = 1..4.

    Pooled positive timestamps: 1..10 and 1..4 -> linear q0.5 = 4.5 -> t^S = 4,
    q0.8 = 7.4 -> t^F = 7. User 1: S = items 1..3, F = 4..6, T = 7..10; user 2: S = 11..13,
    F = 14 (too short for an F window unless the context may cross into S).
    max_len 2 (full context), stride 1.
    """
    rows = [(1, i, i, 5.0) for i in range(1, 11)] + [(2, 10 + t, t, 4.0) for t in range(1, 5)]
    rows.append((1, 14, 8, 1.0))  # a negative: never a window item
    config = ProtocolConfig(max_len=2, stride=1)
    split = paper_split(_frame(rows), config, build_vocab(np.arange(1, 15)))
    assert (split.t_setup, split.t_finetune) == (4, 7)
    assert split.setup_heldout.target.tolist() == [3, 13]
    assert split.setup_heldout.context.tolist() == [[1, 2], [11, 12]]
    assert len(split.setup) == 0
    assert split.setup_train.target.tolist() == [2, 12]
    assert split.setup_train.context.tolist() == [[0, 1], [0, 11]]
    assert split.finetune.target.tolist() == [6]
    assert split.finetune.context.tolist() == [[4, 5]]
    assert split.test.target.tolist() == [9, 10]
    assert split.stats[Block.SETUP].positives == 6
    assert (split.stats[Block.TEST].users, split.stats[Block.TEST].window_users) == (1, 1)
    crossed = paper_split(
        _frame(rows), dataclasses.replace(config, cross_blocks=True), build_vocab(np.arange(1, 15))
    )
    assert crossed.finetune.target.tolist() == [4, 5, 6, 14]
    assert crossed.finetune.context.tolist()[3] == [12, 13]
    assert crossed.finetune.context.tolist()[0] == [2, 3]
    assert crossed.test.context.tolist()[0] == [5, 6]


# --- windows: vectorised against a plain Python loop ----------------------------------------


def _loop_targets(rows: list[int], hist_start: int, min_context: int, stride: int) -> list[int]:
    """Plain loop: rows with >= min_context history since hist_start, end-aligned by stride."""
    cands = [i for i in rows if i - hist_start >= min_context]
    return [i for i in cands if (cands[-1] - i) % stride == 0]


def _loop_window(
    items: list, times: list, user: int, i: int, hist_start: int, max_len: int
) -> tuple:
    ctx = items[max(hist_start, i - max_len) : i]
    return ([0] * (max_len - len(ctx)) + ctx, items[i], user, times[i])


def _loop_paper(frame: pl.DataFrame, config: ProtocolConfig, vocab: ItemVocab) -> dict[str, list]:
    pos = sorted((u, t, i) for u, i, t, r in frame.iter_rows() if r >= config.positive_threshold)
    all_t = np.array([t for _, t, _ in pos])
    t_s = int(np.quantile(all_t, config.setup_quantile))
    t_f = max(int(np.quantile(all_t, config.finetune_quantile)), t_s + 1)
    out: dict[str, list] = {k: [] for k in ("setup", "held", "train", "F", "T")}
    for user, group in groupby(pos, key=lambda r: r[0]):
        group = list(group)
        items = vocab.encode(np.array([i for _, _, i in group])).tolist()
        times = [t for _, t, _ in group]
        block = [0 if t < t_s else 1 if t < t_f else 2 for t in times]
        rows_of = {b: [i for i in range(len(group)) if block[i] == b] for b in (0, 1, 2)}
        for b, key in ((1, "F"), (2, "T")):
            rows = rows_of[b]
            start = 0 if config.cross_blocks or not rows else rows[0]
            for i in _loop_targets(rows, start, config.context_min, config.stride):
                out[key].append(_loop_window(items, times, user, i, start, config.max_len))
        s_rows = rows_of[0]  # S starts at the user's first row
        evals = _loop_targets(s_rows, 0, config.context_min, config.stride)
        held = evals[-1:] if config.holdout_last_setup else []
        before = [i for i in s_rows if not held or i < held[0]]
        train = _loop_targets(before, 0, config.train_min_context, config.train_stride)
        for key, chosen in (
            ("setup", evals[: len(evals) - len(held)]),
            ("held", held),
            ("train", train),
        ):
            out[key] += [_loop_window(items, times, user, i, 0, config.max_len) for i in chosen]
    return out


def _reference_code_windows(seq: list, win_len: int, stride: int) -> list[int]:
    """Target indices as the paper's ml_data_load.sliding_windows(align='end') yields them."""
    n = len(seq)
    if n < win_len:
        return []
    return [i + win_len - 1 for i in range((n - win_len) % stride, n - win_len + 1, stride)]


def _assert_same(win: Windows, expected: list) -> None:
    assert len(win) == len(expected)
    if expected:
        ctx, tgt, usr, ts = zip(*expected, strict=True)
        assert win.context.tolist() == [list(c) for c in ctx]
        assert win.target.tolist() == list(tgt)
        assert win.user.tolist() == list(usr)
        assert win.timestamp.tolist() == list(ts)


def _random_table(seed: int, n: int = 600) -> pl.DataFrame:
    """Few timestamps per user so that ties are common; ratings 1..5."""
    rng = np.random.default_rng(seed)
    return _frame(
        list(
            zip(
                rng.integers(1, 12, n).tolist(),
                rng.integers(1, 40, n).tolist(),
                rng.integers(0, 60, n).tolist(),
                rng.integers(1, 6, n).astype(float).tolist(),
                strict=True,
            )
        )
    )


@pytest.mark.parametrize(
    "config",
    [
        ProtocolConfig(max_len=5),
        ProtocolConfig(max_len=4, min_context=2, stride=3, cross_blocks=True),
        ProtocolConfig(
            max_len=6,
            min_context=1,
            stride=2,
            holdout_last_setup=False,
            train_stride=3,
            train_min_context=2,
        ),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paper_split_matches_python_loop(config: ProtocolConfig, seed: int) -> None:
    frame = _random_table(seed)
    vocab = build_vocab(np.arange(1, 40))
    split = paper_split(frame, config, vocab)
    expected = _loop_paper(frame, config, vocab)
    _assert_same(split.setup, expected["setup"])
    _assert_same(split.setup_heldout, expected["held"])
    _assert_same(split.setup_train, expected["train"])
    _assert_same(split.finetune, expected["F"])
    _assert_same(split.test, expected["T"])
    assert len(split.setup) + len(split.finetune) > 0


def test_end_alignment_equals_reference_code_rule() -> None:
    """Paper defaults (full context): targets are exactly the reference's range() windows."""
    config = ProtocolConfig(max_len=4, stride=5)
    for n in range(1, 30):
        vocab = build_vocab(np.arange(1, n + 1))
        win = period_windows(_one_user(n), (0, 10**6), config, vocab)
        expected = [i + 1 for i in _reference_code_windows(list(range(n)), 5, 5)]
        assert win.target.tolist() == expected, n


def test_setup_train_never_contains_a_heldout_target() -> None:
    frame = _random_table(5, n=2000)
    split = paper_split(
        frame, ProtocolConfig(max_len=5, min_context=3), build_vocab(np.arange(1, 40))
    )
    held = {
        (u, t)
        for u, t in zip(
            split.setup_heldout.user.tolist(), split.setup_heldout.timestamp.tolist(), strict=True
        )
    }
    assert held
    last_train = {}
    for u, t in zip(
        split.setup_train.user.tolist(), split.setup_train.timestamp.tolist(), strict=True
    ):
        last_train[u] = max(last_train.get(u, t), t)
    for u, t in held:
        assert last_train.get(u, -1) <= t  # ties can share a timestamp, never the row
    assert len(split.setup_train) < split.stats[Block.SETUP].positives


# --- real data ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ml100k() -> pl.DataFrame:
    from raie_core.data import load_dataset

    return load_dataset("ml-100k").interactions


@pytest.mark.parametrize(
    ("max_len", "counts", "users"),
    [(20, (3929, 2170, 1445), (361, 208, 140)), (50, (2233, 1229, 817), (196, 99, 68))],
)
def test_paper_split_reproduces_reference_counts_on_ml100k(
    ml100k: pl.DataFrame, max_len: int, counts: tuple, users: tuple
) -> None:
    """research/reference-run.md §1: reference S = our setup + setup_heldout."""
    split = paper_split(ml100k, ProtocolConfig(max_len=max_len), build_vocab(ml100k))
    assert (split.t_setup, split.t_finetune) == (882567058, 889396541)
    assert sum(s.positives for s in split.stats.values()) == 55375
    assert [split.stats[b].positives for b in Block] == [27687, 16613, 11075]
    assert [split.stats[b].users for b in Block] == [478, 399, 280]
    s_windows = len(split.setup) + len(split.setup_heldout)
    assert (s_windows, len(split.finetune), len(split.test)) == counts
    assert tuple(split.stats[b].window_users for b in Block) == users
    assert len(split.setup_heldout) == users[0]
    # stride-1, min context 1, every S positive but each user's first and held-out one
    assert len(split.setup_train) == 27687 - 478 - users[0]
