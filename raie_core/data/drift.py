"""Controlled drift (DESIGN §1): give a seeded cohort of users a new taste from an onset on.

``inject_drift(dataset, config)`` draws ``round(share x active users)`` (at least one) of the
users with a positive at or after the onset, and replaces each of their positives at or after
the onset by a positive on a film of ``config.genre`` the user never rated: the films are drawn
per user without replacement, weighted by their number of interactions in the whole dataset
(films nobody rated are never drawn); the timestamp and the rating of the replaced row are kept.
Every other row (other users, the cohort's rows before the onset, the cohort's non-positives)
is left byte for byte as it was, in its place. Only when a user has more positives after the
onset than unseen films of the genre are the drawn films used again, in order (``reused``).
Pure: reads and writes nothing; the only randomness is ``config.seed``.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from raie_core.data.periods import DEFAULT_POSITIVE_THRESHOLD
from raie_core.data.schema import Dataset
from raie_core.errors import RaieConfigError, RaieDataError

GENRE_SEPARATOR = "|"
"""Genres of a catalog item are stored joined by this (schema.py)."""
SHOWN_GENRES = 25
"""At most this many catalog genres are listed in an unknown-genre error."""


@dataclass(frozen=True)
class DriftConfig:
    """What to inject. genre: a catalog genre (exact, case-sensitive); share: in (0, 1], the
    share of the users active after the onset that drift; onset: a date (midnight UTC) or a
    datetime (naive = UTC), normalised to an aware UTC datetime; seed: the only randomness;
    positive_threshold: rating >= this is a positive (every row when a dataset has no ratings)."""

    genre: str
    share: float
    onset: datetime.datetime
    seed: int = 0
    positive_threshold: float = DEFAULT_POSITIVE_THRESHOLD

    def __post_init__(self) -> None:
        if not isinstance(self.genre, str) or not self.genre.strip():
            raise RaieConfigError(f"genre={self.genre!r} should be a non-empty genre name")
        if not (isinstance(self.share, int | float) and 0.0 < self.share <= 1.0):
            raise RaieConfigError(f"share={self.share!r} should be in (0, 1]")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise RaieConfigError(f"seed={self.seed!r} should be an integer >= 0")
        if not math.isfinite(self.positive_threshold):
            raise RaieConfigError(
                f"positive_threshold={self.positive_threshold!r} should be finite"
            )
        object.__setattr__(self, "onset", _utc(self.onset))

    @property
    def onset_seconds(self) -> int:
        """The onset in UTC seconds (the unit of the interactions' timestamps)."""
        return int(self.onset.timestamp())

    @property
    def onset_label(self) -> str:
        """The onset as ISO 8601 UTC, e.g. '1997-12-19T21:30:58Z'."""
        return self.onset.strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(onset: object) -> datetime.datetime:
    if isinstance(onset, datetime.datetime):
        return (
            onset.astimezone(datetime.UTC) if onset.tzinfo else onset.replace(tzinfo=datetime.UTC)
        )
    if isinstance(onset, datetime.date):
        return datetime.datetime(onset.year, onset.month, onset.day, tzinfo=datetime.UTC)
    raise RaieConfigError(f"onset={onset!r} should be a date or a datetime")


@dataclass(frozen=True)
class DriftSummary:
    """What `inject_drift` did: users active after the onset, cohort users, positives moved,
    films of the genre in the catalog (``genre_films``) and among them ever rated (drawable),
    distinct films drawn, and draws that reused a film for the same user."""

    genre: str
    onset: str
    share: float
    seed: int
    active_users: int
    cohort_users: int
    moved: int
    genre_films: int
    drawable_films: int
    distinct_films: int
    reused: int


@dataclass(frozen=True, eq=False)
class Drift:
    """The drifted dataset, the cohort's user ids (sorted) and the summary."""

    dataset: Dataset
    cohort: tuple[int | str, ...]
    summary: DriftSummary


def inject_drift(dataset: Dataset, config: DriftConfig) -> Drift:
    """Inject ``config``'s drift into ``dataset`` (see the module docstring).

    Raises RaieConfigError naming the genre when the catalog lacks it, the onset when it is not
    after the first timestamp and at or before the last positive, and RaieDataError naming the
    user when a cohort user has rated every drawable film of the genre.
    """
    frame = dataset.interactions.with_row_index("_row")
    films, weights, genre_films = _genre_films(dataset, frame, config.genre)
    after = _positive(frame, config.positive_threshold) & (
        pl.col("timestamp") >= config.onset_seconds
    )
    _check_onset(frame, after, config)
    rng = np.random.default_rng(config.seed)
    active = frame.filter(after).get_column("user_id").unique().sort()
    size = max(1, round(config.share * active.len()))
    cohort = active.gather(np.sort(rng.choice(active.len(), size=size, replace=False)))
    moved, reused = _replacements(frame, after, cohort, films, weights, rng)
    drifted = (
        frame.join(moved, on="_row", how="left", maintain_order="left")
        .with_columns(pl.coalesce("_new", "item_id").alias("item_id"))
        .drop("_row", "_new")
    )
    summary = DriftSummary(
        genre=config.genre,
        onset=config.onset_label,
        share=float(config.share),
        seed=config.seed,
        active_users=active.len(),
        cohort_users=cohort.len(),
        moved=moved.height,
        genre_films=genre_films,
        drawable_films=films.size,
        distinct_films=moved["_new"].n_unique(),
        reused=reused,
    )
    out = Dataset(
        name=f"{dataset.name}+drift",
        interactions=drifted,
        items=dataset.items,
        quarantined=dataset.quarantined,
        sources=dataset.sources,
    )
    return Drift(dataset=out, cohort=tuple(cohort.to_list()), summary=summary)


def _replacements(
    frame: pl.DataFrame,
    after: pl.Expr,
    cohort: pl.Series,
    films: np.ndarray,
    weights: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, int]:
    """(_row, _new item) of every cohort positive after the onset, users in id order and each
    user's positives by (timestamp, item_id), and the number of draws that reuse a film."""
    in_cohort = pl.col("user_id").is_in(cohort.implode())
    rated = frame.filter(in_cohort).group_by("user_id").agg(pl.col("item_id"))
    seen = dict(zip(rated["user_id"].to_list(), rated["item_id"].to_list(), strict=True))
    targets = frame.filter(after & in_cohort).sort("user_id", "timestamp", "item_id")
    rows, items, reused = [], [], 0
    for (user,), part in targets.group_by("user_id", maintain_order=True):
        picks = _draw(user, part["timestamp"].to_numpy(), films, weights, seen[user], rng)
        reused += part.height - np.unique(picks).size
        rows.append(part["_row"].to_numpy())
        items.append(picks)
    moved = pl.DataFrame(
        {"_row": np.concatenate(rows), "_new": np.concatenate(items)},
        schema={"_row": frame.schema["_row"], "_new": frame.schema["item_id"]},
    )
    return moved, reused


def _positive(frame: pl.DataFrame, threshold: float) -> pl.Expr:
    """Rows that are positives: rating >= threshold, or every row when no rating is given
    (the rule of `raie_core.protocol.positives`)."""
    if frame["rating"].null_count() < frame.height:
        return pl.col("rating").fill_null(-math.inf) >= threshold
    return pl.lit(True)


def _genre_films(
    dataset: Dataset, frame: pl.DataFrame, genre: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """(drawable films (m,) sorted by id, their interaction counts (m,) float64, films of the
    genre in the catalog). Raises RaieConfigError naming ``genre`` when no catalog item has it."""
    tags = dataset.items.select("item_id", pl.col("genres").str.split(GENRE_SEPARATOR))
    of_genre = tags.filter(pl.col("genres").list.contains(genre))
    if of_genre.height == 0:
        known = sorted(set(tags["genres"].explode().drop_nulls().to_list()))
        listed = ", ".join(known[:SHOWN_GENRES]) + (", ..." if len(known) > SHOWN_GENRES else "")
        raise RaieConfigError(
            f"genre={genre!r} is not a genre of the {dataset.name} catalog "
            f"({listed or 'it has no genres'})"
        )
    counts = frame.group_by("item_id").len().join(of_genre.select("item_id"), on="item_id")
    counts = counts.sort("item_id")
    return (
        counts["item_id"].to_numpy(),
        counts["len"].to_numpy().astype(np.float64),
        of_genre.height,
    )


def _check_onset(frame: pl.DataFrame, after: pl.Expr, config: DriftConfig) -> None:
    first, last = int(frame["timestamp"].min()), int(frame["timestamp"].max())
    if config.onset_seconds <= first or frame.filter(after).height == 0:
        raise RaieConfigError(
            f"onset={config.onset_label} lies outside the data, which runs from "
            f"{_label(first)} to {_label(last)} (rule: after the first timestamp and at or "
            "before the last positive)"
        )


def _label(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _draw(
    user: object,
    timestamps: np.ndarray,
    films: np.ndarray,
    weights: np.ndarray,
    rated: list,
    rng: np.random.Generator,
) -> np.ndarray:
    """(k,) films for a user's k positives after the onset (timestamps (k,) sorted): a
    popularity-weighted draw without replacement among the films the user never rated, used
    again in order when k exceeds them. Raises RaieDataError naming the user when no film is
    left, or when one second holds more of their positives than there are films to keep
    (user, item, timestamp) unique."""
    unseen = ~np.isin(films, np.asarray(rated, dtype=films.dtype))
    candidates, p = films[unseen], weights[unseen]
    k = timestamps.size
    if candidates.size == 0:
        raise RaieDataError(
            f"user_id={user!r} has rated every drawable film of the genre, so none can be drawn"
        )
    picks = rng.choice(candidates, size=min(k, candidates.size), replace=False, p=p / p.sum())
    if k > picks.size:
        _, ties = np.unique(timestamps, return_counts=True)
        if int(ties.max()) > picks.size:
            raise RaieDataError(
                f"user_id={user!r} has {int(ties.max())} positives in one second after the onset "
                f"but only {picks.size} unseen films of the genre"
            )
    return picks[np.arange(k) % picks.size]
