"""Pattern-engine retrieval benchmark: hnswlib search against numpy brute force.

Vectors come from the default :class:`HashingEmbedder` over generated failure texts (see
``bench/_corpus.py``). The figures with targets are measured on the Zipf corpus: Zipfian
word frequencies and long-tailed topic popularity, the clustered, anisotropic structure of
real text embeddings (isotropic random vectors would give any approximate index near-zero
recall and say nothing). Its nearest neighbours are still close together: the 3rd and 4th
differ by about 0.008 in similarity (median), so recall@3 is demanding. The speed and
recall figures are repeated on a flat-cluster stress corpus (figures suffixed
``/flat-clusters``, no targets), where every query has about 50 nearly tied neighbours.

Figures, all measured in the same run:

- ``embed_rate``: texts/s embedded in batches of 1,000.
- ``index_build_rate``: vectors/s added to a :class:`VectorIndex` with the engine's defaults
  (``PatternSettings``: M=32, ef_construction=200), hnswlib on every core, in batches of 1,000.
- ``index_memory``: resident memory the built index holds (RSS after minus before; the
  graph with its capacity headroom plus the exact-search matrix), and the saved file size.
- ``query_speed@N/efE``: k=3 queries/s through ``VectorIndex.search`` on the hnswlib path,
  one query at a time, against ``numpy brute force`` (matrix-vector product + argpartition;
  the faster of one product and 1,024-row blocks, since a threaded BLAS product stalls on
  a busy machine) on the same queries, interleaved, best of each. Reported at the index's
  default ef and, when it differs, at the smallest swept ef whose recall reaches 0.95 (if
  any does; the printed ef sweep shows recall and latency for each ef). The target ratio
  (10x) applies to that second figure, the speed at recall 0.95, at 100,000 items
  (``--full``) only.
- ``recall_at_3@N/efE``: share of the exact top 3 (by id) that the hnswlib path returns.
- ``glimpse_search_p50`` / ``_p99``: embed one error message and search the index
  directly (k=1, >= 0.5).
- ``engine_start``: a :class:`PatternEngine` starting on the corpus saved as a real SQLite
  database with the index file beside it (reads every row, loads the index; see
  ``bench/_pattern_runtime.py``).
- ``glimpse_end_to_end_p50`` / ``_p99``: what an explicit early retry waits for: a
  ``Glimpse`` asked of that engine actor (worker-thread hop, embed, search) and the
  references attached to the handler's ``DeliveryContext``.
- ``exact_crossover``: the smallest measured size from which hnswlib (default ef) answers
  faster than exact search through the same ``VectorIndex.search`` at every larger size;
  the table of latencies by size is printed. ``DEFAULT_EXACT_THRESHOLD`` is set from it.

Retrieval quality on real text (``bench/_docstrings.py``, ``bench/_quality.py``): the
standard library's docstrings, read from the running Python's source, the summary line
the query and the rest of the docstring its one right answer (all 1,436 of Python 3.11's
in ``--full``, every 4th in ``--quick``). For every embedder (hashing; all-MiniLM-L6-v2
when the ``embeddings`` extra is installed, else a line says it was left out):

- ``quality_hit_at_1`` / ``_at_3``: share of queries whose answer ranks first / in the top 3.
- ``glimpse_precision`` / ``glimpse_answer_rate`` at the embedder's glimpse threshold
  (``@t``), and the same for revise (3 chunks): right / answered, answered / queries.
- ``embed_paragraphs_rate`` / ``embed_queries_rate``: answers and queries embedded per
  second in batches of 64, against the hashing embedder in the same run.

The hashing embedder runs in both versions: version 1 (the previous default) and version 2
(the error-text tokeniser, IDF fitted on the answers as the engine fits it on its
references; ``idf_fit_rate`` is that fit). Their throughput is measured again after the
quality, in turn from a cold word cache, best of 5 rounds, version 1 the baseline.

The trade-off table (precision, answer rate and the share of right answers kept, at each
threshold from 0.10 to 0.80) and the thresholds it calibrates are printed for each.

The same on a second real corpus when this machine has one (``bench/_manpages.py``): the
manual pages of section 1, the NAME line's description the query and the DESCRIPTION
section its answer (every page in ``--full``, every 6th in ``--quick``; figure names
``.../manpages/<items>/...``); without ``/usr/share/man/man1`` a line says it was left out.

The index on real text (``bench/_real_index.py``): 100,000 of the standard library's
docstring paragraphs (20,000 in ``--quick``), IDF-fitted hashing vectors, docstring summary
lines as queries. For each M (16 and 32; 32 in ``--quick``) and ef the recall@3 against
exact search and the speed against exact search through the same ``VectorIndex.search``
are printed; the figures are those at the engine's default M and ef:

- ``real_recall_at_3@Nk/M/ef`` (target 0.97) and ``real_query_speed@Nk/M/ef`` (target 8x
  exact search, ``--full`` only), ``real_index_build_rate``.
- ``exact_product_rate@Nk/<rows>/blas1`` and ``/blas-default``: the exact path's product,
  one plain product against 1,024-row blocks, with BLAS limited to one thread
  (threadpoolctl) and as it is: the before/after of the blocks.

Run: ``python -m bench.pattern_engine --quick`` (15,000 items, under a minute on an idle
two-core machine) or ``--full`` (100,000 items, several minutes).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from actorgrid import EmbeddingError, HashingEmbedder, PatternSettings, SentenceTransformerEmbedder
from actorgrid.actors.patterns.embedders import MINILM
from actorgrid.actors.patterns.index import VectorIndex
from actorgrid.actors.patterns.index._exact_search import similarities
from bench._common import Figure, Mode, best_of, parse_mode, report
from bench._corpus import FlatClusterCorpus, ZipfCorpus
from bench._docstrings import docstring_corpus
from bench._manpages import MAN_ROOT, manpage_corpus
from bench._pattern_runtime import engine_figures
from bench._quality import evaluate, hashing_rates, print_tradeoff, quality_figures
from bench._real_index import real_index_section

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from actorgrid import Embedder
    from bench._docstrings import DocItem

    Matrix = npt.NDArray[np.float32]

K = 3
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work one mode does."""

    items: int
    queries: int
    checkpoints: tuple[int, ...]
    """Corpus sizes at which exact and hnswlib latency are compared."""
    runs: int


SIZES: dict[Mode, Sizes] = {
    "quick": Sizes(15_000, 200, (500, 1000, 2000, 3000, 5000, 10_000, 15_000), 3),
    "full": Sizes(
        100_000,
        1000,
        (500, 1000, 2000, 3000, 5000, 7500, 10_000, 20_000, 50_000, 100_000),
        3,
    ),
}
EF_SWEEP = (16, 32, 48, 64, 80, 96, 128, 192, 256)
QUALITY_STRIDE: dict[Mode, int] = {"quick": 4, "full": 1}
"""Every n-th docstring of the corpus the quality section uses."""
MANPAGE_STRIDE: dict[Mode, int] = {"quick": 6, "full": 1}
"""Every n-th manual page the quality section reads."""
RECALL_TARGET = 0.95


def _progress(text: str) -> None:
    print(f"  ... {text}", file=sys.stderr, flush=True)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _brute_force_top(
    matrix: Matrix, query: Matrix, k: int, *, blocked: bool = False
) -> npt.NDArray[np.intp]:
    sims = similarities(matrix, query) if blocked else matrix @ query
    top = np.argpartition(-sims, k - 1)[:k]
    return top[np.argsort(-sims[top])]


def _latency_ms(fn: Callable[[Matrix], object], queries: Matrix, repeats: int = 3) -> float:
    """Return the best mean per-query latency in ms of ``fn(query)`` over ``queries``."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        for q in queries:
            fn(q)
        best = min(best, (time.perf_counter() - start) / len(queries))
    return best * 1000.0


def run(mode: Mode) -> list[Figure]:
    """Measure every figure for ``mode``: the Zipf corpus first, then the stress corpus."""
    sizes = SIZES[mode]
    n = sizes.items
    settings = PatternSettings()  # measure the engine's own index configuration
    gen = ZipfCorpus()
    corpus_texts = gen.texts(n)
    query_texts = gen.texts(sizes.queries)
    # The engine's references' embedder: IDF fitted on the chunks the index holds.
    embedder = HashingEmbedder().fitted(corpus_texts)

    start = time.perf_counter()
    corpus = _embed(embedder, corpus_texts)
    embed_rate = n / (time.perf_counter() - start)
    _progress(f"{n} texts embedded")
    queries = embedder.embed(query_texts)

    index = _new_index(embedder, settings)
    gc.collect()
    rss_before = _rss_bytes()
    build_seconds = 0.0
    crossover_rows: list[tuple[int, float, float, float]] = []
    default_ef = index.stats().ef
    probe = queries[: min(200, len(queries))]
    added = 0
    for size in sizes.checkpoints:
        start = time.perf_counter()
        added = _fill(index, corpus, added, size)
        build_seconds += time.perf_counter() - start
        exact_ms, hnsw_ms, hnsw2_ms = _compare_paths(index, probe, default_ef)
        crossover_rows.append((size, exact_ms, hnsw_ms, hnsw2_ms))
        _progress(f"{size} items indexed")
    gc.collect()
    index_memory = _rss_bytes() - rss_before
    build_rate = n / build_seconds
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.hnsw"
        index.save(path)
        file_bytes = path.stat().st_size

    label = f"@{n // 1000}k"
    target = 10.0 if mode == "full" else None
    speed = _speed_figures(index, corpus, queries, sizes.runs, label, target)
    _progress("queries measured")

    glimpse_ms: list[float] = []
    for text in query_texts:
        start = time.perf_counter()
        index.search(embedder.embed([text])[0], k=1, min_similarity=0.5)
        glimpse_ms.append((time.perf_counter() - start) * 1000.0)
    glimpse_ms.sort()
    engine = engine_figures(index, corpus_texts, query_texts, embedder, settings, label)
    _progress("engine measured")
    del index

    stress_gen = FlatClusterCorpus()
    stress_texts = stress_gen.texts(n)
    stress_embedder = HashingEmbedder().fitted(stress_texts)
    stress_corpus = _embed(stress_embedder, stress_texts)
    stress_queries = stress_embedder.embed(stress_gen.texts(sizes.queries))
    stress_index = _new_index(stress_embedder, settings)
    _fill(stress_index, stress_corpus, 0, n)
    stress = _speed_figures(
        stress_index, stress_corpus, stress_queries, sizes.runs, f"{label}/{stress_gen.name}"
    )
    _progress("stress corpus measured")

    crossover = _crossover([(size, exact, hnsw) for size, exact, hnsw, _ in crossover_rows])
    _print_crossover(crossover_rows, default_ef)
    _print_sweep(gen.name, n, speed.sweep)
    _print_sweep(stress_gen.name, n, stress.sweep)
    print(
        f"\nindex memory {index_memory / n:,.0f} bytes/item (RSS), "
        f"file {file_bytes / n:,.0f} bytes/item"
    )
    return [
        Figure("embed_rate", "texts/s", round(embed_rate)),
        Figure("index_build_rate", "vectors/s", round(build_rate)),
        Figure("index_memory" + label, "bytes", float(index_memory)),
        Figure("index_file_size" + label, "bytes", float(file_bytes)),
        *speed.figures,
        Figure("glimpse_search_p50" + label, "ms", round(statistics.median(glimpse_ms), 4)),
        Figure(
            "glimpse_search_p99" + label,
            "ms",
            round(glimpse_ms[int(0.99 * (len(glimpse_ms) - 1))], 4),
        ),
        *engine,
        Figure(
            "exact_crossover",
            "items",
            float(crossover if crossover is not None else sizes.checkpoints[-1]),
        ),
        *stress.figures,
        *quality_section(mode),
        *real_index_section(mode),
    ]


def quality_section(mode: Mode) -> list[Figure]:
    """Measure retrieval quality on the standard library's docstrings and, when this machine
    has them, on its manual pages, for every embedder."""
    figures = _quality_on(docstring_corpus()[:: QUALITY_STRIDE[mode]], "stdlib docstrings", "")
    pages = manpage_corpus(MANPAGE_STRIDE[mode])
    if pages:
        figures += _quality_on(pages, "man pages", "/manpages")
    else:
        print(f"\nretrieval quality: man pages left out (none readable under {MAN_ROOT})")
    return figures


def _quality_on(items: list[DocItem], corpus: str, label: str) -> list[Figure]:
    """Measure retrieval quality on one corpus; figure names carry ``label`` and its size."""
    embedders: list[Embedder] = [HashingEmbedder(version=1), HashingEmbedder()]
    try:
        embedders.append(SentenceTransformerEmbedder(MINILM))
    except EmbeddingError as exc:
        print(f"\nretrieval quality: {MINILM} left out ({exc})")
    qualities = []
    for embedder in embedders:
        quality = evaluate(embedder, items)
        _progress(f"quality measured on {corpus}: {embedder.name}")
        print_tradeoff(quality, corpus)
        qualities.append(quality)
    # Hashing throughput again, old and new in turn from cold, best of 5 rounds each.
    hashing = [q.fitted or e for q, e in zip(qualities, embedders, strict=True)]
    rates = hashing_rates([e for e in hashing if isinstance(e, HashingEmbedder)], items)
    figures: list[Figure] = []
    baseline = None
    for quality, embedder in zip(qualities, embedders, strict=True):
        if quality.embedder in rates:
            paragraphs, queries = rates[quality.embedder]
            quality = dataclasses.replace(
                quality, paragraphs_per_s=paragraphs, queries_per_s=queries
            )
        figures += quality_figures(quality, embedder, f"{label}/{len(items)}", baseline)
        baseline = baseline or quality
    return figures


def _embed(embedder: HashingEmbedder, texts: list[str]) -> Matrix:
    return np.concatenate(
        [embedder.embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
    )


def _new_index(embedder: HashingEmbedder, settings: PatternSettings) -> VectorIndex:
    return VectorIndex(
        embedder.dim,
        M=settings.M,
        ef_construction=settings.ef_construction,
        ef=settings.ef,
        embedder_name=embedder.name,
    )


def _fill(index: VectorIndex, corpus: Matrix, added: int, size: int) -> int:
    """Add ``corpus[added:size]`` in batches; return ``size``."""
    while added < size:
        stop = min(size, added + BATCH)
        index.add(range(added, stop), corpus[added:stop])
        added = stop
    return added


@dataclass(frozen=True, slots=True)
class _Speed:
    figures: list[Figure]
    sweep: list[tuple[int, float, float]]


def _speed_figures(
    index: VectorIndex,
    corpus: Matrix,
    queries: Matrix,
    runs: int,
    label: str,
    target_ratio: float | None = None,
) -> _Speed:
    """Sweep ef, then time queries at the default ef and the smallest ef reaching 0.95.

    The target ratio, if any, applies to the figure at the smallest ef whose recall reaches
    :data:`RECALL_TARGET`, the speed the index offers at that recall.
    """
    default_ef = index.stats().ef
    index.exact_threshold = 0
    sweep = _ef_sweep(index, corpus, queries, default_ef)
    recall_at = {ef: recall for ef, recall, _ in sweep}
    enough_ef = next((ef for ef, r, _ in sweep if r >= RECALL_TARGET), None)
    speed_efs = sorted({default_ef} | ({enough_ef} if enough_ef is not None else set()))

    def hnsw_rate() -> float:
        start = time.perf_counter()
        for q in queries:
            index.search(q, k=K)
        return len(queries) / (time.perf_counter() - start)

    def brute_rate() -> float:
        rates = []
        for blocked in (False, True):
            start = time.perf_counter()
            for q in queries:
                _brute_force_top(corpus, q, K, blocked=blocked)
            rates.append(len(queries) / (time.perf_counter() - start))
        return max(rates)

    qps = dict.fromkeys(speed_efs, 0.0)
    brute_qps = 0.0
    for _ in range(runs):  # interleaved, best of each
        for ef in speed_efs:
            index.set_ef(ef)
            qps[ef] = max(qps[ef], best_of(1, hnsw_rate))
        brute_qps = max(brute_qps, best_of(1, brute_rate))
    index.set_ef(default_ef)
    figures = [
        figure
        for ef in speed_efs
        for figure in (
            Figure(
                f"query_speed{label}/ef{ef}",
                "queries/s",
                round(qps[ef]),
                baseline="numpy brute force",
                baseline_value=round(brute_qps),
                target_ratio=target_ratio if ef == enough_ef else None,
            ),
            Figure(
                f"recall_at_3{label}/ef{ef}",
                "ratio",
                round(recall_at[ef], 4),
                target=RECALL_TARGET,
                target_direction="min",
            ),
        )
    ]
    return _Speed(figures, sweep)


def _compare_paths(index: VectorIndex, probe: Matrix, ef: int) -> tuple[float, float, float]:
    """Return ms per query: exact, hnswlib at ``ef``, hnswlib at ``2 * ef``.

    The three are measured in turn, five rounds, best of each, so that a burst of load
    from other processes does not land on one column only.
    """
    best = [float("inf")] * 3
    settings = ((10**12, ef), (0, ef), (0, 2 * ef))
    for _ in range(5):
        for col, (threshold, col_ef) in enumerate(settings):
            index.exact_threshold = threshold
            index.set_ef(col_ef)
            best[col] = min(best[col], _latency_ms(lambda q: index.search(q, k=K), probe, 1))
    index.set_ef(ef)
    return best[0], best[1], best[2]


def _crossover(rows: list[tuple[int, float, float]]) -> int | None:
    """Return the smallest size from which hnswlib was faster at every larger size too."""
    found: int | None = None
    for size, exact, hnsw in reversed(rows):
        if hnsw >= exact:
            break
        found = size
    return found


def _ef_sweep(
    index: VectorIndex, corpus: Matrix, queries: Matrix, default_ef: int
) -> list[tuple[int, float, float]]:
    """Return (ef, recall@3 against the exact top 3, ms per query) for each swept ef."""
    truths = [set(_brute_force_top(corpus, q, K).tolist()) for q in queries]
    rows = []
    for ef in sorted({*EF_SWEEP, default_ef}):
        index.set_ef(ef)
        found = sum(
            len(t & {h.id for h in index.search(q, k=K)})
            for q, t in zip(queries, truths, strict=True)
        )
        rows.append(
            (
                ef,
                found / (K * len(queries)),
                _latency_ms(lambda q: index.search(q, k=K), queries[:200]),
            )
        )
    index.set_ef(default_ef)
    return rows


def _print_crossover(crossover: list[tuple[int, float, float, float]], ef_default: int) -> None:
    one, two = f"hnsw ef={ef_default}", f"hnsw ef={2 * ef_default}"
    print("\nexact vs hnswlib, k=3, ms per query through VectorIndex.search")
    print(f"{'items':>8}  {'exact':>8}  {one:>12}  {two:>13}")
    for size, exact, hnsw, hnsw2 in crossover:
        print(f"{size:>8}  {exact:>8.4f}  {hnsw:>12.4f}  {hnsw2:>13.4f}")


def _print_sweep(corpus: str, n: int, ef_rows: list[tuple[int, float, float]]) -> None:
    print(f"\nef sweep, {corpus} corpus, {n} items, k=3")
    print(f"{'ef':>5}  {'recall@3':>8}  {'ms/query':>8}")
    for ef, recall, ms in ef_rows:
        print(f"{ef:>5}  {recall:>8.4f}  {ms:>8.4f}")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark in the mode given on the command line and report it."""
    mode = parse_mode("Pattern-engine retrieval: hnswlib against numpy brute force.", argv)
    report("pattern_engine", mode, run(mode))


if __name__ == "__main__":
    main()
