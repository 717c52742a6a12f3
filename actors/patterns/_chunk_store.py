"""The pattern engine's chunks: the vector indexes, the chunks in memory, and their writes.

Reference chunks and failure chunks live in two indexes. A glimpse or a revise looks for
reference chunks while tens of thousands of failures may be kept; searching one shared
index with a filter that skips the failures made hnswlib wander through them (44 ms a
glimpse beside 30,000 failures, against 0.02 ms in an index of the references alone).

Owned by one :class:`~actorgrid.actors.PatternEngine` and called only from its task. Every
embedding and index operation runs in a worker thread (``anyio.to_thread``) while the task
waits for it, so the index never sees two callers at once; search filters read the
in-memory state from that thread, which nothing changes meanwhile. The failure path's
calls (indexing failures, searches, revise's lookup) run on the loop instead while they
are measured cheap (see :mod:`actorgrid.actors.patterns._offload`): a thread hop costs
more than a hashing embedder's few texts.

The table is the truth and the index file a cache of its vectors:

* a chunk added by :meth:`ChunkStore.add` is committed before it is indexed;
* failure chunks are submitted without waiting (:meth:`ChunkStore.submit`), and a
  submission the writer rejects takes its chunks out of the index again
  (:meth:`ChunkStore.reap`);
* whatever drift a crash leaves is repaired at the next start
  (see :mod:`actorgrid.actors._pattern_index`).
"""

from __future__ import annotations

import contextlib
import functools
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio
import numpy as np
import structlog

from actorgrid.storage import StorageError

from ._chunk_table import Chunk, delete_op, insert_op, read_chunks, retag_op
from ._failure_memory import FailureMemory, FailureNote
from ._indexes import embed_batches, new_index, open_index
from ._messages import metadata_matches
from ._offload import Offload
from ._protocol import Reference
from ._reweighting import fit_references, idf_path, is_stale, reference_embedder
from ._settings import FAILURE_SOURCE, effective_thresholds, failure_index_path
from .embedders import HashingEmbedder, validate_texts

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import numpy.typing as npt
    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.storage import Op, Receipt, Writer

    from ._indexes import OpenedIndex
    from ._messages import ChunkInput
    from ._settings import PatternSettings
    from .embedders import Embedder
    from .index import Hit, VectorIndex

__all__ = ("ChunkStore",)

_VECTOR_CACHE = 4096
"""Most texts whose vectors :meth:`ChunkStore.embed` keeps (about 1.6 MB at dimension 384)."""

_log = structlog.get_logger("actorgrid.actors.pattern")


class ChunkStore:
    """The index, every chunk (text and metadata), the failure memory, and pending writes.

    Build it with :meth:`open`.
    """

    def __init__(
        self,
        settings: PatternSettings,
        embedder: Embedder,
        references: VectorIndex,
        failures: VectorIndex,
        writer: Writer | None,
        path: Path | None,
        *,
        ref_embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        """The configured embedder, unweighted: failures' vectors, and the name rows carry."""
        self.ref_embedder = embedder if ref_embedder is None else ref_embedder
        """The references' embedder: ``embedder`` with IDF weights fitted on the references
        (see :mod:`actorgrid.actors.patterns._reweighting`), or ``embedder`` itself."""
        self.thresholds = effective_thresholds(settings, embedder)
        """The glimpse and revise thresholds in force (the settings', else the embedder's)."""
        self.idf_changes = 0
        """Reference chunks added or deleted since the IDF weights were fitted."""
        self.idf_dirty = False
        """The IDF weights changed since they were last saved."""
        self.refits = 0
        """Times the IDF weights were refitted because they were stale."""
        self.ref_index = references
        """Vectors of every chunk whose source is not ``failure``."""
        self.failure_index = failures
        """Vectors of the failure chunks."""
        self.writer = writer
        self.path = path
        """The references' index file (``None``: memory only)."""
        self.failure_path = failure_index_path(path)
        self.chunks: dict[int, Chunk] = {}
        """Every indexed chunk by id."""
        self.failures: set[int] = set()
        """Ids of the chunks whose source is ``failure``."""
        self.memory = FailureMemory()
        self.next_id = 0
        self.refs_dirty = False
        """The references' index changed since it was last saved."""
        self.failures_dirty = False
        self.saves = 0
        self._vectors: dict[tuple[str, str], npt.NDArray[np.float32]] = {}
        """Vectors of recently embedded failure and query texts (see :meth:`embed`)."""
        self._receipts: deque[tuple[Receipt, tuple[int, ...]]] = deque()
        self.offload = Offload()
        """Runs the failure path's embedding and searches inline while they are cheap."""

    @classmethod
    async def open(
        cls,
        settings: PatternSettings,
        embedder: Embedder,
        *,
        engine: AsyncEngine | None,
        writer: Writer | None,
        path: Path | None,
    ) -> tuple[ChunkStore, dict[str, tuple[OpenedIndex, int]], int]:
        """Read the table, open (or rebuild) both indexes, and take every chunk into memory.

        Returns:
            The store; for ``references`` and ``failures``, what opening that index found
            and how many of the table's chunks belong in it; how many chunks the table holds.

        Raises:
            EmbeddingError: a stored text cannot be embedded.
            Exception: the table cannot be read.
        """
        rows: list[Chunk] = []
        if engine is not None and writer is not None:
            await writer.flush()  # an earlier incarnation's writes come first
            rows = await read_chunks(engine)
        refs = [c for c in rows if c.source != FAILURE_SOURCE]
        fails = [c for c in rows if c.source == FAILURE_SOURCE]
        if isinstance(embedder, HashingEmbedder):
            embedder = embedder.unweighted()
        ref_embedder, fitted_now, changes = await anyio.to_thread.run_sync(
            reference_embedder, embedder, path, [c.text for c in refs], settings.idf_refit_fraction
        )
        opened_refs = await anyio.to_thread.run_sync(open_index, path, ref_embedder, refs, settings)
        opened_fails = await anyio.to_thread.run_sync(
            open_index, failure_index_path(path), embedder, fails, settings
        )
        store = cls(
            settings,
            embedder,
            opened_refs.index,
            opened_fails.index,
            writer,
            path,
            ref_embedder=ref_embedder,
        )
        store.idf_dirty = fitted_now
        store.idf_changes = changes
        for chunk in rows:
            store._register(chunk)
        labels = opened_refs.index.ids() + opened_fails.index.ids()
        store.next_id = max([c.id for c in rows] + labels, default=-1) + 1
        stale = any(c.embedder != embedder.name or c.dim != embedder.dim for c in rows)
        if stale and writer is not None:
            await writer.write(retag_op(embedder.name, embedder.dim))
        store.refs_dirty = _needs_save(opened_refs, refs)
        store.failures_dirty = _needs_save(opened_fails, fails)
        await store.save()
        opened = {"references": (opened_refs, len(refs)), "failures": (opened_fails, len(fails))}
        return store, opened, len(rows)

    def _register(self, chunk: Chunk) -> None:
        self.chunks[chunk.id] = chunk
        if chunk.source == FAILURE_SOURCE:
            self.failures.add(chunk.id)
            note = FailureNote.from_chunk(chunk)
            if note is not None:
                self.memory.restore(note)

    def allocate(self) -> int:
        """Return a fresh chunk id."""
        chunk_id = self.next_id
        self.next_id += 1
        return chunk_id

    def has_references(self) -> bool:
        """Whether any chunk is not a failure."""
        return len(self.ref_index) > 0

    # -- writes ---------------------------------------------------------------------------

    def submit(self, ops: Sequence[Op], inserted: tuple[int, ...] = ()) -> None:
        """Hand ``ops`` to the writer without waiting; ``inserted`` are the chunks they add."""
        if self.writer is None or not ops:
            return
        try:
            receipt = self.writer.submit(*ops)
        except StorageError as exc:
            _log.warning("pattern_write_refused", error=repr(exc), chunks=len(inserted))
            return
        self._receipts.append((receipt, inserted))

    async def reap(self) -> None:
        """Take the chunks of rejected submissions back out of the index and memory."""
        lost: list[int] = []
        while self._receipts and self._receipts[0][0].done:
            receipt, inserted = self._receipts.popleft()
            if receipt.error is not None:
                _log.warning("pattern_write_rejected", error=repr(receipt.error))
                lost.extend(i for i in inserted if i in self.chunks)
        if lost:
            await self.forget(lost)

    async def settle(self) -> None:
        """Wait until every submission is committed or rejected, then :meth:`reap`."""
        for receipt, _ in list(self._receipts):
            with contextlib.suppress(StorageError):
                await receipt.wait()
        await self.reap()

    async def save(self) -> None:
        """Save each index that changed (atomically; a failed save is retried later).

        The references' IDF weights are saved before their index: a crash in between
        leaves weights whose fingerprint the saved index does not carry, which the next
        start rebuilds, never an index read with other weights.
        """
        weights = getattr(self.ref_embedder, "idf", None)
        where = idf_path(self.path)
        if self.idf_dirty and where is not None and weights is not None:
            try:
                await anyio.to_thread.run_sync(weights.save, where)
            except OSError as exc:
                _log.warning("pattern_idf_save_failed", path=str(where), error=repr(exc))
                return
            self.idf_dirty = False
        if self.refs_dirty and self.path is not None:
            self.refs_dirty = not await self._save(self.ref_index, self.path)
        if self.failures_dirty and self.failure_path is not None:
            self.failures_dirty = not await self._save(self.failure_index, self.failure_path)

    async def _save(self, index: VectorIndex, path: Path) -> bool:
        try:
            await anyio.to_thread.run_sync(index.save, path)
        except OSError as exc:
            _log.warning("pattern_index_save_failed", path=str(path), error=repr(exc))
            return False
        self.saves += 1
        return True

    # -- chunks ---------------------------------------------------------------------------

    async def add(self, chunks: Sequence[ChunkInput], now: float) -> tuple[int, ...]:
        """Embed, commit, then index validated chunks; nothing changes if a step fails.

        Raises:
            EmbeddingError: a text cannot be embedded.
            StorageError: the rows could not be committed.
        """
        embedder = self.embedder
        vectors = await anyio.to_thread.run_sync(
            embed_batches,
            self.ref_embedder,
            [c.text for c in chunks],
            self.settings.embed_batch_size,
        )
        new = [Chunk(self.allocate(), c.source, c.text, c.metadata, now) for c in chunks]
        if self.writer is not None:
            await self.writer.write(*(insert_op(c, embedder.name, embedder.dim) for c in new))
        ids = tuple(c.id for c in new)
        await anyio.to_thread.run_sync(self.ref_index.add, ids, vectors)
        self.refs_dirty = True
        for chunk in new:
            self.chunks[chunk.id] = chunk
        self.idf_changes += len(new)
        await self._refit_quietly()
        return ids

    async def _refit_quietly(self) -> None:
        """Refit if stale; a refit that fails is logged and tried again at the next change
        (the chunks that changed are committed and indexed already)."""
        try:
            await self.refit_if_stale()
        except Exception as exc:
            _log.error("pattern_idf_refit_failed", error=repr(exc))

    async def refit_if_stale(self) -> bool:
        """Refit the references' IDF weights and rebuild their index if the weights are
        stale (see :mod:`actorgrid.actors.patterns._reweighting`); return whether it did.

        Raises:
            EmbeddingError: a reference text cannot be embedded (nothing changes).
        """
        current = self.ref_embedder
        weights = getattr(current, "idf", None)
        if not isinstance(current, HashingEmbedder) or weights is None:
            return False
        if not is_stale(weights.documents, self.idf_changes, self.settings.idf_refit_fraction):
            return False
        changes = self.idf_changes
        fitted, index = await anyio.to_thread.run_sync(self._refit, current)
        self.ref_embedder, self.ref_index = fitted, index
        self.idf_changes = 0
        self.idf_dirty = self.refs_dirty = True
        self.refits += 1
        _log.info(
            "pattern_idf_refitted",
            fitted_on=weights.documents,
            changes=changes,
            references=len(index),
        )
        return True

    def _refit(self, embedder: HashingEmbedder) -> tuple[HashingEmbedder, VectorIndex]:
        """(worker thread) Fit weights on every reference chunk and index them anew."""
        refs = [c for c in self.chunks.values() if c.id not in self.failures]
        fitted = fit_references(embedder.unweighted(), [c.text for c in refs])
        index = new_index(fitted, self.settings, len(refs))
        batch = self.settings.embed_batch_size
        for start in range(0, len(refs), batch):
            part = refs[start : start + batch]
            index.add([c.id for c in part], fitted.embed([c.text for c in part]))
        return fitted, index

    async def add_failures(self, notes: Sequence[FailureNote]) -> list[list[int]]:
        """Index failure chunks (not their rows: the caller submits those).

        Returns:
            For each note, the ids of earlier failures at least the recurring similarity
            away, most similar first.

        Raises:
            EmbeddingError: a text cannot be embedded (nothing is indexed).
        """
        ids = tuple(n.id for n in notes)
        self.failures.update(ids)
        try:
            near = await self.offload.run(
                "index_failures", len(ids), self._index_failures, ids, [n.text for n in notes]
            )
        except Exception:
            self.failures.difference_update(ids)
            raise
        self.failures_dirty = True
        for note in notes:
            self.chunks[note.id] = Chunk(note.id, FAILURE_SOURCE, note.text, {}, note.seen_at)
        return near

    def _index_failures(self, ids: tuple[int, ...], texts: list[str]) -> list[list[int]]:
        """(worker thread) Embed and add failures; find each one's alike earlier failures."""
        vectors = self.embed(texts)
        index = self.failure_index
        index.add(ids, vectors)
        floor = self.settings.recurring_min_similarity
        return [
            [
                hit.id
                for hit in index.search(
                    vector,
                    k=8,
                    min_similarity=floor,
                    filter=functools.partial(_earlier, chunk_id),
                )
            ]
            for chunk_id, vector in zip(ids, vectors, strict=True)
        ]

    async def delete(self, ids: Sequence[int]) -> int:
        """Delete chunks (rows committed first); unknown ids are ignored.

        Returns:
            How many were deleted.

        Raises:
            StorageError: the deletion could not be committed (nothing changes).
        """
        present = [i for i in ids if i in self.chunks]
        if present and self.writer is not None:
            await self.writer.write(*(delete_op(i) for i in present))
        await self.forget(present)
        return len(present)

    async def forget(self, ids: Sequence[int]) -> None:
        """Drop chunks from the index and memory (their rows are dealt with already)."""
        if not ids:
            return
        failures = [i for i in ids if i in self.failures]
        refs = [i for i in ids if i not in self.failures]
        await anyio.to_thread.run_sync(self._delete_from_indexes, refs, failures)
        self.refs_dirty = self.refs_dirty or bool(refs)
        self.failures_dirty = self.failures_dirty or bool(failures)
        for chunk_id in ids:
            self.chunks.pop(chunk_id, None)
            self.failures.discard(chunk_id)
        self.memory.remove(ids)
        if refs:
            self.idf_changes += len(refs)
            await self._refit_quietly()

    def _delete_from_indexes(self, refs: Sequence[int], failures: Sequence[int]) -> None:
        """(worker thread) Delete labels; compact a graph once enough slots are deleted."""
        for index, ids in ((self.ref_index, refs), (self.failure_index, failures)):
            if ids:
                index.delete(ids)
                index.compact(min_deleted_fraction=self.settings.compact_fraction)

    # -- searches -------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        k: int,
        floor: float,
        flt: Callable[[int], bool] | None,
        *,
        references: bool = True,
        failures: bool = True,
    ) -> list[Hit]:
        """Embed ``query`` and return up to ``k`` hits at least ``floor`` similar.

        Args:
            query: The text to search for.
            k: Most hits.
            floor: Least similarity.
            flt: If given, only chunk ids it accepts.
            references: Search the reference chunks.
            failures: Search the failure chunks.

        Raises:
            EmbeddingError: the query cannot be embedded.
        """
        indexes = [
            index
            for index, wanted in ((self.ref_index, references), (self.failure_index, failures))
            if wanted and len(index)
        ]
        if not indexes:
            return []
        return await self.offload.run("search", 1, self._search_text, query, k, floor, flt, indexes)

    def _search_text(
        self,
        query: str,
        k: int,
        floor: float,
        flt: Callable[[int], bool] | None,
        indexes: list[VectorIndex],
    ) -> list[Hit]:
        """(worker thread) Embed ``query`` for each index, search it, keep the best ``k``."""
        if len(indexes) == 1:
            vector = self.embed([query], self.embedder_of(indexes[0]))[0]
            return indexes[0].search(vector, k, floor, flt)
        hits = [
            hit
            for index in indexes
            for hit in index.search(self.embed([query], self.embedder_of(index))[0], k, floor, flt)
        ]
        hits.sort(key=_by_similarity)
        return hits[:k]

    def embedder_of(self, index: VectorIndex) -> Embedder:
        """Return the embedder whose vectors ``index`` holds."""
        return self.ref_embedder if index is self.ref_index else self.embedder

    def embed(self, texts: list[str], embedder: Embedder | None = None) -> npt.NDArray[np.float32]:
        """(worker thread) Embed ``texts`` with ``embedder`` (default: the failures'
        :attr:`embedder`), reusing recent vectors.

        Failure texts recur (every message that meets the same fault fails with the same
        text), and a revise embeds the failure it follows and the target's earlier ones
        again, so the vectors of the last few thousand texts are kept.

        Raises:
            EmbeddingError: a text is empty or not a string (nothing is cached).
        """
        use = self.embedder if embedder is None else embedder
        name = use.name
        found: dict[str, npt.NDArray[np.float32]] = {}
        cache = self._vectors
        for text in validate_texts(texts):
            vector = cache.get((name, text))
            if vector is not None:
                found[text] = vector
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = use.embed(missing)
            if len(cache) + len(missing) > _VECTOR_CACHE:
                cache.clear()
            for text, vector in zip(missing, fresh, strict=True):
                found[text] = cache[name, text] = vector
        return np.stack([found[t] for t in texts])

    def reference(self, hit: Hit) -> Reference:
        """Return the chunk behind ``hit`` as a :class:`Reference`."""
        c = self.chunks[hit.id]
        return Reference(
            chunk_id=c.id,
            source=c.source,
            text=c.text,
            similarity=hit.similarity,
            metadata=dict(c.meta),
        )

    def matches(self, source: str | None, wanted: dict[str, Any] | None, chunk_id: int) -> bool:
        """Whether the chunk has ``source`` (if given) and every pair of ``wanted`` (if given)."""
        chunk = self.chunks.get(chunk_id)
        return (
            chunk is not None
            and (source is None or chunk.source == source)
            and (wanted is None or metadata_matches(chunk.meta, wanted))
        )


def _earlier(before: int, chunk_id: int) -> bool:
    return chunk_id < before


def _by_similarity(hit: Hit) -> float:
    return -hit.similarity


def _needs_save(opened: OpenedIndex, chunks: Sequence[Chunk]) -> bool:
    """Whether an index just opened differs from its file (or has no file to match)."""
    if opened.reason is None:
        return bool(opened.added or opened.removed)
    return bool(chunks) or opened.file_existed
