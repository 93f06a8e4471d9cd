"""Prompt building for the `llm` backbone: item-index windows -> left-padded token batches.

Every item's text segment (its atomic ``<item_ID>`` token, title, year and genres) is
tokenised once when the backbone is built; a prompt is then ``prefix + segments of the last
items + suffix``, assembled from token ids without calling the tokenizer again. The answer
(the next item's token) is never part of the prompt: the logits at the last prompt position
score it, and the routing key pools the prompt only (DESIGN §3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from raie_core.errors import RaieConfigError

ITEM_TOKEN = "<item_{item_id}>"
"""The atomic answer token of an item (P5 / openP5 style), filled with its raw id."""


@dataclass(frozen=True)
class ItemText:
    """Catalog text of one item: title (None when unknown), year, genres ("|"-joined)."""

    title: str | None
    year: int | None
    genres: str | None


@dataclass(frozen=True)
class PromptTemplate:
    """The prompt's text pieces.

    prefix / suffix: text before the history and after it (the answer token follows the suffix).
    item: one history item; placeholders {token} (its item token), {title}, {year}, {genres}.
    year / genres: how {year} and {genres} render when known (placeholder {year} / {genres},
        genres joined by ", "); they render as "" when unknown.
    unknown_title: title of an item missing from the catalog (placeholder {item_id}).
    """

    prefix: str = "A user watched these movies, oldest first:"
    item: str = "\n{token} {title}{year}{genres}"
    year: str = " ({year})"
    genres: str = " [{genres}]"
    suffix: str = "\nThe next movie they watch is"
    unknown_title: str = "item {item_id}"

    def __post_init__(self) -> None:
        if "{title}" not in self.item:
            raise RaieConfigError(f"template item={self.item!r} should contain {{title}}")

    def render(self, item_id: object, text: ItemText | None) -> str:
        """The text of one history item."""
        title = text.title if text is not None and text.title else None
        year = text.year if text is not None else None
        genres = text.genres if text is not None else None
        return self.item.format(
            token=ITEM_TOKEN.format(item_id=item_id),
            title=title if title is not None else self.unknown_title.format(item_id=item_id),
            year=self.year.format(year=year) if year is not None else "",
            genres=self.genres.format(genres=", ".join(genres.split("|"))) if genres else "",
        )


@dataclass(frozen=True)
class PromptCodec:
    """Pre-tokenised prompt pieces.

    prefix / suffix: token ids of the template's prefix / suffix.
    segments: per item index (0 = PAD, empty) the token ids of its history text.
    pad_id: token used for left padding (masked out).
    max_items: last items of a window put in the prompt. max_tokens: prompt length cap;
        the oldest items are dropped first, then the oldest tokens of the remaining one.
    """

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    segments: tuple[tuple[int, ...], ...]
    pad_id: int
    max_items: int
    max_tokens: int

    def __post_init__(self) -> None:
        fixed = len(self.prefix) + len(self.suffix)
        if self.max_tokens <= fixed:
            raise RaieConfigError(
                f"max_prompt_tokens={self.max_tokens} should be > {fixed}, "
                "the length of the template's prefix and suffix"
            )


@dataclass(frozen=True)
class PromptBatch:
    """Left-padded prompts: three (n, T) int64 tensors (mask 1 on real tokens)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor

    def to(self, device: torch.device) -> PromptBatch:
        return PromptBatch(
            self.input_ids.to(device), self.attention_mask.to(device), self.position_ids.to(device)
        )

    @property
    def n_tokens(self) -> int:
        """Real (unpadded) tokens in the batch."""
        return int(self.attention_mask.sum())


def build_codec(
    tokenize: Callable[[str], list[int]],
    item_ids: Sequence[object],
    texts: Mapping[object, ItemText],
    template: PromptTemplate,
    pad_id: int,
    max_items: int,
    max_tokens: int,
) -> PromptCodec:
    """Tokenise the template and every item's history text once.

    tokenize: text -> token ids, no special tokens added (must know the item tokens).
    item_ids: raw ids in vocabulary order (index i + 1 = item_ids[i]).
    texts: raw id -> catalog text; ids missing from it use ``template.unknown_title``.
    """
    segments = [()] + [tuple(tokenize(template.render(i, texts.get(i)))) for i in item_ids]
    return PromptCodec(
        prefix=tuple(tokenize(template.prefix)),
        suffix=tuple(tokenize(template.suffix)),
        segments=tuple(segments),
        pad_id=pad_id,
        max_items=max_items,
        max_tokens=max_tokens,
    )


def prompt_ids(codec: PromptCodec, row: np.ndarray) -> list[int]:
    """Token ids of one window's prompt. row: (L,) int64 item indices, left-padded with 0."""
    items = [int(i) for i in row if i != 0][-codec.max_items :]
    budget = codec.max_tokens - len(codec.prefix) - len(codec.suffix)
    body: list[int] = []
    for index in reversed(items):
        segment = codec.segments[index]
        if len(body) + len(segment) > budget:
            if not body:
                body = list(segment[len(segment) - budget :])
            break
        body = list(segment) + body
    return [*codec.prefix, *body, *codec.suffix]


def encode_prompts(codec: PromptCodec, context: np.ndarray) -> PromptBatch:
    """(n, L) int64 item-index windows -> left-padded prompt batch (n, T), T = longest prompt.

    Position ids count real tokens only, so a prompt's outputs do not depend on its padding.
    """
    rows = [prompt_ids(codec, r) for r in np.asarray(context)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), codec.pad_id, dtype=torch.int64)
    mask = torch.zeros((len(rows), width), dtype=torch.int64)
    for k, r in enumerate(rows):
        ids[k, width - len(r) :] = torch.tensor(r, dtype=torch.int64)
        mask[k, width - len(r) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return PromptBatch(ids, mask, positions)
