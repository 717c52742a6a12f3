"""The vector index on real text: recall@3 and speed against exact search, by M and ef.

The corpus is the standard library's docstring paragraphs (``docstring_paragraphs``:
100,000 in ``--full``, 20,000 in ``--quick``), embedded by the default hashing embedder
fitted on them, as the engine fits it on its reference chunks. The queries are docstring
summary lines (``docstring_corpus``, spread over it; no paragraph equal to one is in the
corpus), short texts looked up among paragraphs, the shape of a glimpse. For each M the
graph is built once (``ef_construction`` of the settings) and every ef of the sweep is
timed on it; exact search is timed on the same queries through
the same ``VectorIndex.search`` (exact path), in turn with the graph, best of rounds.

The exact path's product is timed twice more, plain and in 1,024-row blocks, with BLAS
limited to one thread and as it is: the before/after of dropping the blocks where BLAS is
single-threaded.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import threadpoolctl

from actorgrid import HashingEmbedder, PatternSettings
from actorgrid.actors.patterns.index import VectorIndex
from actorgrid.actors.patterns.index._exact_search import blocked_similarities
from bench._common import Figure, Mode
from bench._docstrings import docstring_corpus, docstring_paragraphs

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    Matrix = npt.NDArray[np.float32]

__all__ = ("real_index_section",)

K: Final = 3
BATCH: Final = 1000
RECALL_TARGET: Final = 0.97
SPEED_TARGET: Final = 8.0


@dataclass(frozen=True, slots=True)
class _Plan:
    items: int
    queries: int
    Ms: tuple[int, ...]
    efs: tuple[int, ...]
    rounds: int


PLANS: Final[dict[Mode, _Plan]] = {
    "quick": _Plan(20_000, 200, (32,), (64, 96, 128, 256), 2),
    "full": _Plan(100_000, 1000, (16, 32), (64, 96, 128, 192, 256), 2),
}


def _progress(text: str) -> None:
    import sys

    print(f"  ... {text}", file=sys.stderr, flush=True)


def _per_query_ms(fn: Callable[[Matrix], object], queries: Matrix) -> float:
    start = time.perf_counter()
    for q in queries:
        fn(q)
    return (time.perf_counter() - start) / len(queries) * 1000.0


def _search(index: VectorIndex, query: Matrix) -> object:
    return index.search(query, k=K)


def _embed(embedder: HashingEmbedder, texts: list[str]) -> Matrix:
    return np.concatenate(
        [embedder.embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
    )


def real_index_section(mode: Mode) -> list[Figure]:
    """Measure recall@3 and speed by M and ef on real text; figures for the defaults."""
    plan = PLANS[mode]
    settings = PatternSettings()
    summaries = [i.query for i in docstring_corpus()]
    paragraphs = docstring_paragraphs(plan.items, frozenset(summaries))
    n = len(paragraphs)
    embedder = HashingEmbedder(dim=settings.embedder_dim).fitted(paragraphs)
    corpus = _embed(embedder, paragraphs)
    queries = embedder.embed(summaries[:: max(1, len(summaries) // plan.queries)][: plan.queries])
    truths = [set(np.argpartition(-(corpus @ q), K - 1)[:K].tolist()) for q in queries]
    _progress(f"real text: {n} paragraphs embedded")
    label = f"@{n // 1000}k"
    rows: list[tuple[int, int, float, float, float, float]] = []
    exact_ms = float("inf")
    figures: list[Figure] = []
    for M in plan.Ms:
        index = VectorIndex(
            embedder.dim,
            M=M,
            ef_construction=settings.ef_construction,
            ef=settings.ef,
            initial_capacity=n,
            embedder_name=embedder.name,
        )
        start = time.perf_counter()
        for i in range(0, n, BATCH):
            index.add(range(i, min(n, i + BATCH)), corpus[i : i + BATCH])
        build = n / (time.perf_counter() - start)
        recall: dict[int, float] = {}
        for ef in plan.efs:
            index.set_ef(ef)
            index.exact_threshold = 0
            found = sum(
                len(t & {h.id for h in index.search(q, k=K)})
                for q, t in zip(queries, truths, strict=True)
            )
            recall[ef] = found / (K * len(queries))
        best = dict.fromkeys(plan.efs, float("inf"))
        for _ in range(plan.rounds):
            for ef in plan.efs:
                index.set_ef(ef)
                index.exact_threshold = 0
                best[ef] = min(best[ef], _per_query_ms(functools.partial(_search, index), queries))
            index.exact_threshold = n + 1
            exact_ms = min(exact_ms, _per_query_ms(functools.partial(_search, index), queries))
        rows.extend((M, ef, recall[ef], best[ef], exact_ms / best[ef], build) for ef in plan.efs)
        if M == settings.M:
            ef = settings.ef
            if ef not in recall:
                continue
            figures += [
                Figure(
                    f"real_recall_at_3{label}/M{M}/ef{ef}",
                    "ratio",
                    round(recall[ef], 4),
                    target=RECALL_TARGET,
                    target_direction="min",
                ),
                Figure(
                    f"real_query_speed{label}/M{M}/ef{ef}",
                    "queries/s",
                    round(1000.0 / best[ef]),
                    baseline="exact search (VectorIndex.search, exact path)",
                    baseline_value=round(1000.0 / exact_ms),
                    target_ratio=SPEED_TARGET if mode == "full" else None,
                ),
                Figure(f"real_index_build_rate{label}/M{M}", "vectors/s", round(build)),
            ]
        del index
        _progress(f"real text: M={M} measured")
    print(f"\nreal text ({n} stdlib docstring paragraphs, {len(queries)} summary queries), k=3")
    print(f"{'M':>3}  {'ef':>4}  {'recall@3':>8}  {'ms/query':>8}  {'x exact':>7}  {'build/s':>8}")
    for M, ef, r, ms, speedup, build in rows:
        print(f"{M:>3}  {ef:>4}  {r:>8.4f}  {ms:>8.4f}  {speedup:>7.1f}  {build:>8.0f}")
    print(f"exact search: {exact_ms:.4f} ms/query")
    return figures + _product_figures(corpus, queries, label)


def _product_figures(corpus: Matrix, queries: Matrix, label: str) -> list[Figure]:
    """Time the exact product plain and blocked, BLAS on one thread and as it is."""
    sizes = sorted({min(len(corpus), 10_000), len(corpus)})
    queries = queries[:200]
    out: list[Figure] = []
    print("\nexact product, ms/query (best of 5, 200 queries): plain / 1,024-row blocks")
    for threads, tag in ((1, "blas1"), (None, "blas-default")):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            for size in sizes:
                matrix = corpus[:size]
                plain = blocked = float("inf")
                for _ in range(5):
                    plain = min(plain, _per_query_ms(functools.partial(np.matmul, matrix), queries))
                    blocked = min(
                        blocked,
                        _per_query_ms(functools.partial(blocked_similarities, matrix), queries),
                    )
                print(f"  {tag:>12} {size:>7}: {plain:.4f} / {blocked:.4f}")
                out.append(
                    Figure(
                        f"exact_product_rate{label}/{size // 1000}k/{tag}",
                        "queries/s",
                        round(1000.0 / plain),
                        baseline="1,024-row blocks",
                        baseline_value=round(1000.0 / blocked),
                    )
                )
    return out
