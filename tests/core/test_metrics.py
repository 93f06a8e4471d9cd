"""raie_core.metrics: full-ranking ranks, Recall/NDCG, masking, popularity floor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from raie_core.errors import RaieConfigError, RaieDataError
from raie_core.metrics import ndcg_gains, popularity_scores, ranking_metrics, target_ranks

# PAD column 0 scores highest on purpose: it must never count.
FIVE = torch.tensor([[9.0, 0.1, 0.5, 0.3, 0.9, 0.2]])


def test_rank_of_a_known_target_and_its_ndcg() -> None:
    """Target item 2 (0.5): only item 4 (0.9) is higher -> rank 1 -> NDCG = 1/log2(3)."""
    rank = target_ranks(FIVE, torch.tensor([2]))
    assert rank.tolist() == [1]
    assert rank.dtype == torch.int64
    metrics = ranking_metrics(rank, ks=(1, 5))
    assert metrics == {
        "Recall@1": 0.0,
        "NDCG@1": 0.0,
        "Recall@5": 1.0,
        "NDCG@5": pytest.approx(1 / math.log2(3)),
    }
    assert target_ranks(FIVE, torch.tensor([1])).tolist() == [4]  # 0.9, 0.5, 0.3, 0.2 above


def test_context_items_are_masked_but_never_the_target() -> None:
    target = torch.tensor([2])
    assert target_ranks(FIVE, target, torch.tensor([[0, 0, 4]])).tolist() == [0]
    assert target_ranks(FIVE, target, torch.tensor([[4, 2, 3]])).tolist() == [0]
    # the target in its own context keeps its score: item 4 is still above it
    assert target_ranks(FIVE, target, torch.tensor([[2, 2, 1]])).tolist() == [1]
    assert target_ranks(FIVE, torch.tensor([1]), np.array([[4, 2]])).tolist() == [2]


def test_ties_count_only_strictly_higher_scores() -> None:
    scores = torch.tensor([[0.0, 1.0, 1.0, 1.0, 2.0]])
    assert target_ranks(scores, torch.tensor([2])).tolist() == [1]
    assert target_ranks(torch.zeros(3, 7), torch.tensor([1, 3, 6])).tolist() == [0, 0, 0]


def test_ranking_metrics_hand_worked() -> None:
    ranks = torch.tensor([0, 1, 4, 5, 19, 25])
    m = ranking_metrics(ranks)
    assert list(m) == ["Recall@5", "NDCG@5", "Recall@10", "NDCG@10", "Recall@20", "NDCG@20"]
    g = [1 / math.log2(r + 2) for r in (0, 1, 4, 5, 19)]
    assert m["Recall@5"] == pytest.approx(3 / 6)
    assert m["NDCG@5"] == pytest.approx(sum(g[:3]) / 6)
    assert m["Recall@10"] == pytest.approx(4 / 6)
    assert m["NDCG@10"] == pytest.approx(sum(g[:4]) / 6)
    assert m["Recall@20"] == pytest.approx(5 / 6)
    assert m["NDCG@20"] == pytest.approx(sum(g) / 6)
    assert ndcg_gains(ranks, 10).tolist() == pytest.approx([*g[:4], 0.0, 0.0])
    assert ranking_metrics(np.array([0]))["NDCG@5"] == 1.0


def _loop_ranks(scores: np.ndarray, target: np.ndarray, context: np.ndarray) -> list[int]:
    """Plain Python reference of target_ranks."""
    out = []
    for row, t, ctx in zip(scores, target, context, strict=True):
        masked = {0} | ({int(c) for c in ctx} - {int(t)})
        out.append(sum(1 for j, s in enumerate(row) if j not in masked and s > row[t]))
    return out


def _loop_metrics(ranks: list[int], k: int) -> tuple[float, float]:
    hits = [r < k for r in ranks]
    ndcg = [1 / math.log2(r + 2) if r < k else 0.0 for r in ranks]
    return sum(hits) / len(ranks), sum(ndcg) / len(ranks)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_equals_python_loop_with_ties_and_chunks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_tokens, length = 97, 41, 6
    scores = rng.integers(0, 8, size=(n, n_tokens)).astype(np.float32)  # many ties
    target = rng.integers(1, n_tokens, size=n)
    context = rng.integers(0, n_tokens, size=(n, length))
    context[: n // 3, :2] = 0  # left padding
    context[::5, -1] = target[::5]  # target inside its own context
    expected = _loop_ranks(scores, target, context)
    for chunk in (n_tokens, 7 * n_tokens, 10**9):  # 1 row, 7 rows, everything per chunk
        got = target_ranks(torch.from_numpy(scores), target, context, chunk_elements=chunk)
        assert got.tolist() == expected
    metrics = ranking_metrics(torch.tensor(expected))
    for k in (5, 10, 20):
        recall, ndcg = _loop_metrics(expected, k)
        assert metrics[f"Recall@{k}"] == pytest.approx(recall)
        assert metrics[f"NDCG@{k}"] == pytest.approx(ndcg)


def test_large_evaluation_in_small_chunks() -> None:
    """10k windows x 2k items: every sample ranked, same as one big chunk."""
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(10_000, 2_001, generator=gen)
    target = torch.randint(1, 2_001, (10_000,), generator=gen)
    context = torch.randint(0, 2_001, (10_000, 20), generator=gen)
    small = target_ranks(scores, target, context, chunk_elements=1 << 18)
    big = target_ranks(scores, target, context, chunk_elements=1 << 30)
    assert small.shape == (10_000,)
    assert torch.equal(small, big)
    assert int(small.min()) >= 0 and int(small.max()) <= 2_000 - 1


def test_popularity_scores_counts_training_targets() -> None:
    pop = popularity_scores(np.array([3, 3, 1, 3, 0]), n_tokens=5)
    assert pop.tolist() == [0.0, 1.0, 0.0, 3.0, 0.0]
    ranks = target_ranks(pop.expand(2, 5), torch.tensor([1, 3]), torch.tensor([[3], [0]]))
    assert ranks.tolist() == [0, 0]  # item 3 masked in row 0; item 3 tops row 1
    with pytest.raises(RaieConfigError, match="train_targets"):
        popularity_scores(np.array([5]), n_tokens=5)


def test_errors_name_the_problem() -> None:
    with pytest.raises(RaieConfigError, match="0 is PAD"):
        target_ranks(FIVE, torch.tensor([0]))
    with pytest.raises(RaieConfigError, match="target shape"):
        target_ranks(FIVE, torch.tensor([1, 2]))
    with pytest.raises(RaieConfigError, match="integer item indices"):
        target_ranks(FIVE, torch.tensor([1.0]))
    with pytest.raises(RaieDataError, match="NaN"):
        target_ranks(torch.tensor([[0.0, float("nan"), 1.0]]), torch.tensor([1]))
    with pytest.raises(RaieDataError, match="empty"):
        ranking_metrics(torch.tensor([], dtype=torch.int64))
    with pytest.raises(RaieConfigError, match="k=0"):
        ranking_metrics(torch.tensor([1]), ks=(0,))
