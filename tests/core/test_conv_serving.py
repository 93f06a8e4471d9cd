"""Serving contexts: encoding histories, and `recommend_contexts` (the one scoring function of
`raie recommend` and the bank's pyfunc model) ranking unseen items through routed adapters."""

import numpy as np
import pytest

from raie_core.backbones import encode_array
from raie_core.errors import RaieConfigError
from raie_core.protocol import ItemVocab, encode_contexts
from raie_core.regions import RegionConfig, fit_regions, route
from raie_core.serving import recommend_contexts
from tests.core.test_adapters import KNOWN, backbone, bank, update  # noqa: F401 - fixtures
from tests.core.test_seqrec import L, cycle_windows


def test_encode_contexts_keeps_the_last_items_left_padded() -> None:
    vocab = ItemVocab(np.array([10, 20, 30]))
    rows = encode_contexts([[10, 20], [30, 10, 20, 30], []], vocab, max_len=3)
    assert rows.tolist() == [[0, 1, 2], [1, 2, 3], [0, 0, 0]]
    assert rows.dtype == np.int64


def test_encode_contexts_names_an_unknown_item() -> None:
    with pytest.raises(RaieConfigError, match=r"item ids \[99\] are not in the vocabulary"):
        encode_contexts([[10, 99]], ItemVocab(np.array([10, 20])), max_len=2)
    with pytest.raises(RaieConfigError, match="max_len=0 should be >= 1"):
        encode_contexts([[10]], ItemVocab(np.array([10])), max_len=0)


def test_recommend_contexts_routes_and_ranks_unseen_items(bank) -> None:  # noqa: ANN001, F811
    context = cycle_windows(40, KNOWN, seed=5).context
    X = encode_array(bank.backbone, context)
    config = RegionConfig(n_regions=2)
    regions = fit_regions(X, config, seed=0)
    top = recommend_contexts(bank, regions, config, context, k=5)

    assert top.items.shape == top.scores.shape == (40, 5) and top.region.shape == (40,)
    for items, scores, row in zip(top.items, top.scores, context, strict=True):
        raw_context = set(bank.backbone.vocab.decode(row[row > 0]).tolist())
        assert not raw_context & set(items.tolist())  # only unseen items
        assert np.all(np.diff(scores) <= 0)  # best first
    # the bank holds adapters of regions 0 and 3: region 1's rows fall back to the base (-1)
    routed = route(regions, X, config).region
    assert top.region.tolist() == np.where(np.isin(routed, [0, 3]), routed, -1).tolist()
    assert L == context.shape[1]
    with pytest.raises(RaieConfigError, match="no rows"):
        recommend_contexts(bank, regions, config, context[:0], k=5)
