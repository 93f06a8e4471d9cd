"""Evaluation protocols (DESIGN §2): `values` (vocabulary, windows, config, paper split) and
`split` (positives, windows per user, the paper and streaming presets)."""

from raie_core.protocol.split import (
    cut_points,
    encode_contexts,
    latest_context,
    latest_items,
    paper_split,
    period_windows,
    positives,
    streaming_setup,
)
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
    build_vocab,
)

__all__ = [
    "ITEM",
    "RATING",
    "TIME",
    "USER",
    "Block",
    "BlockStats",
    "ItemVocab",
    "PaperSplit",
    "ProtocolConfig",
    "TimePoint",
    "Windows",
    "build_vocab",
    "cut_points",
    "encode_contexts",
    "latest_context",
    "latest_items",
    "paper_split",
    "period_windows",
    "positives",
    "streaming_setup",
]
