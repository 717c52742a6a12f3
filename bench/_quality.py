"""Retrieval quality on real text: hit@k, and what glimpse and revise attach at a threshold.

Each query is looked up among all the answers by exact search (the index's approximate
path is measured elsewhere). ``glimpse`` attaches the top chunk when it reaches its
threshold; it *answers* then, and is *right* when that chunk is the query's own answer.
``revise`` attaches up to 3 chunks that reach its threshold; it answers when it attaches
any, and is right when its own answer is among them. Precision is right / answered; the
answer rate is answered / queries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from actorgrid import HashingEmbedder
from bench._common import Figure

if TYPE_CHECKING:
    import numpy.typing as npt

    from actorgrid import Embedder
    from bench._docstrings import DocItem

__all__ = ("Quality", "evaluate", "print_tradeoff", "quality_figures")

BATCH: Final = 64
SWEEP: Final = tuple(round(0.05 * i, 2) for i in range(2, 17))
"""Thresholds of the printed trade-off table: 0.10 to 0.80."""
GRID: Final = tuple(round(0.05 * i, 2) for i in range(21))
GLIMPSE_KEEPS: Final = 0.85
"""A glimpse threshold is calibrated to keep this share of the right top-1 answers."""
REVISE_KEEPS: Final = 0.95
"""A revise threshold is calibrated to keep this share of the right top-3 answers."""


@dataclass(frozen=True, slots=True)
class Quality:
    """One embedder's results on one corpus."""

    embedder: str
    items: int
    top_sims: npt.NDArray[np.float32]
    """(queries, 3) similarities of the top 3 answers, best first."""
    top_right: npt.NDArray[np.bool_]
    """(queries, 3) whether each of those is the query's own answer."""
    paragraphs_per_s: float
    queries_per_s: float
    fit_per_s: float | None = None
    """Answers per second the IDF weights were fitted at (``None``: not fitted)."""
    fitted: Embedder | None = None
    """The embedder as fitted on the answers (``None``: used as given)."""

    def hit_at(self, k: int) -> float:
        """Return the share of queries whose answer is among the top ``k``."""
        return float(self.top_right[:, :k].any(axis=1).mean())

    def glimpse(self, threshold: float) -> tuple[float, float]:
        """Return (precision, answer rate) of a glimpse (k=1) at ``threshold``."""
        answered = self.top_sims[:, 0] >= threshold
        right = answered & self.top_right[:, 0]
        return _ratio(right, answered), float(answered.mean())

    def revise(self, threshold: float) -> tuple[float, float]:
        """Return (precision, answer rate) of a revise (k=3) at ``threshold``."""
        kept = self.top_sims >= threshold
        answered = np.asarray(kept.any(axis=1), dtype=np.bool_)
        right = np.asarray((kept & self.top_right).any(axis=1), dtype=np.bool_)
        return _ratio(right, answered), float(answered.mean())

    def right_median(self) -> float:
        """Return the median top-1 similarity of the queries whose top answer is right."""
        sims = self.top_sims[:, 0][self.top_right[:, 0]]
        return float(np.median(sims)) if len(sims) else float("nan")

    def wrong_median(self) -> float:
        """Return the median top-1 similarity of the queries whose top answer is wrong."""
        sims = self.top_sims[:, 0][~self.top_right[:, 0]]
        return float(np.median(sims)) if len(sims) else float("nan")

    def kept_right(self, threshold: float, k: int) -> float:
        """Return the share of the right answers found in the top ``k`` that score at least
        ``threshold``: what a threshold keeps of what the embedder gets right."""
        found = self.top_right[:, :k]
        kept = found & (self.top_sims[:, :k] >= threshold)
        return float(kept.sum()) / max(1, int(found.sum()))

    def calibrated(self) -> tuple[float, float]:
        """Return the thresholds this run measures: the highest on the 0.05 grid that keep
        :data:`GLIMPSE_KEEPS` of the right top-1 answers (glimpse) and
        :data:`REVISE_KEEPS` of the right top-3 answers (revise)."""
        glimpse = max((t for t in GRID if self.kept_right(t, 1) >= GLIMPSE_KEEPS), default=0.0)
        revise = max((t for t in GRID if self.kept_right(t, 3) >= REVISE_KEEPS), default=0.0)
        return glimpse, revise


def _ratio(part: npt.NDArray[np.bool_], whole: npt.NDArray[np.bool_]) -> float:
    n = int(whole.sum())
    return float(part.sum()) / n if n else 0.0


def _embed(embedder: Embedder, texts: list[str]) -> tuple[npt.NDArray[np.float32], float]:
    """Embed ``texts`` in batches; return the vectors and the texts per second.

    A hashing embedder is timed from cold (its word cache cleared) three times, best of
    the three, so that two versions compare fairly in one run; a model once.
    """
    best = 0.0
    out = None
    for _ in range(3 if isinstance(embedder, HashingEmbedder) else 1):
        if isinstance(embedder, HashingEmbedder):
            embedder.clear_cache()
        start = time.perf_counter()
        out = np.concatenate(
            [embedder.embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        )
        best = max(best, len(texts) / (time.perf_counter() - start))
    assert out is not None
    return out, best


def evaluate(embedder: Embedder, items: list[DocItem]) -> Quality:
    """Embed every answer and query with ``embedder`` and rank all answers for each query.

    A hashing embedder that can be fitted is fitted on the answers first, as the engine
    fits it on the reference chunks it holds (the fit is timed on its own).
    """
    fit_rate = None
    if isinstance(embedder, HashingEmbedder) and not embedder.name.startswith("hashing-v1"):
        start = time.perf_counter()
        embedder = embedder.fitted([i.answer for i in items])
        fit_rate = len(items) / (time.perf_counter() - start)
    answers, paragraphs_rate = _embed(embedder, [i.answer for i in items])
    queries, queries_rate = _embed(embedder, [i.query for i in items])
    sims = queries @ answers.T
    top = np.argsort(-sims, axis=1)[:, :3]
    own = np.arange(len(items))[:, None]
    return Quality(
        embedder=embedder.name,
        items=len(items),
        top_sims=np.take_along_axis(sims, top, axis=1),
        top_right=top == own,
        paragraphs_per_s=paragraphs_rate,
        queries_per_s=queries_rate,
        fit_per_s=fit_rate,
        fitted=embedder if fit_rate is not None else None,
    )


def quality_figures(
    quality: Quality, embedder: Embedder, label: str, baseline: Quality | None
) -> list[Figure]:
    """Return hit@1, hit@3, glimpse and revise at the embedder's thresholds, throughput.

    Throughput is given against ``baseline`` (version 1 of the hashing embedder, the same
    run) when given.
    """
    t = embedder.thresholds
    g_precision, g_rate = quality.glimpse(t.glimpse)
    r_precision, r_rate = quality.revise(t.revise)
    tag = f"{label}/{quality.embedder}"
    base = baseline.embedder if baseline is not None else None
    fit = (
        []
        if quality.fit_per_s is None
        else [Figure(f"idf_fit_rate{tag}", "texts/s", round(quality.fit_per_s, 1))]
    )
    return [
        *fit,
        Figure(f"quality_hit_at_1{tag}", "ratio", round(quality.hit_at(1), 4)),
        Figure(f"quality_hit_at_3{tag}", "ratio", round(quality.hit_at(3), 4)),
        Figure(f"glimpse_precision{tag}@{t.glimpse}", "ratio", round(g_precision, 4)),
        Figure(f"glimpse_answer_rate{tag}@{t.glimpse}", "ratio", round(g_rate, 4)),
        Figure(f"revise_precision{tag}@{t.revise}", "ratio", round(r_precision, 4)),
        Figure(f"revise_answer_rate{tag}@{t.revise}", "ratio", round(r_rate, 4)),
        Figure(
            f"embed_paragraphs_rate{tag}",
            "texts/s",
            round(quality.paragraphs_per_s, 1),
            baseline=base,
            baseline_value=None if baseline is None else round(baseline.paragraphs_per_s, 1),
        ),
        Figure(
            f"embed_queries_rate{tag}",
            "texts/s",
            round(quality.queries_per_s, 1),
            baseline=base,
            baseline_value=None if baseline is None else round(baseline.queries_per_s, 1),
        ),
    ]


def hashing_rates(
    embedders: list[Embedder], items: list[DocItem], rounds: int = 5
) -> dict[str, tuple[float, float]]:
    """Return (paragraphs/s, short texts/s) of each hashing embedder, measured in turn.

    Each round embeds every answer and then every query with each embedder from cold (its
    word cache cleared), so that load from other processes falls on all of them alike;
    the best round of each counts. Fitted embedders are timed with their weights.
    """
    answers = [i.answer for i in items]
    queries = [i.query for i in items]
    best: dict[str, list[float]] = {e.name: [0.0, 0.0] for e in embedders}
    for _ in range(rounds):
        for embedder in embedders:
            for col, texts in enumerate((answers, queries)):
                if isinstance(embedder, HashingEmbedder):
                    embedder.clear_cache()
                start = time.perf_counter()
                for i in range(0, len(texts), BATCH):
                    embedder.embed(texts[i : i + BATCH])
                rate = len(texts) / (time.perf_counter() - start)
                best[embedder.name][col] = max(best[embedder.name][col], rate)
    return {name: (p, q) for name, (p, q) in best.items()}


def print_tradeoff(quality: Quality, corpus: str) -> None:
    """Print precision and answer rate of glimpse and revise at every swept threshold."""
    print(
        f"\nretrieval quality, {quality.embedder}, {corpus}, {quality.items} queries: "
        f"hit@1 {quality.hit_at(1):.3f}, hit@3 {quality.hit_at(3):.3f}, median top-1 "
        f"similarity {quality.right_median():.3f} right / {quality.wrong_median():.3f} wrong"
    )
    glimpse, revise = quality.calibrated()
    print(
        f"calibrated: glimpse {glimpse:.2f} (keeps >= {GLIMPSE_KEEPS:.0%} of right top-1), "
        f"revise {revise:.2f} (keeps >= {REVISE_KEEPS:.0%} of right top-3)"
    )
    print(
        f"{'threshold':>9}  {'glimpse prec':>12}  {'answered':>8}  {'kept':>5}"
        f"  {'revise prec':>11}  {'answered':>8}  {'kept':>5}"
    )
    for t in SWEEP:
        gp, ga = quality.glimpse(t)
        rp, ra = quality.revise(t)
        print(
            f"{t:>9.2f}  {gp:>12.3f}  {ga:>8.3f}  {quality.kept_right(t, 1):>5.3f}"
            f"  {rp:>11.3f}  {ra:>8.3f}  {quality.kept_right(t, 3):>5.3f}"
        )
