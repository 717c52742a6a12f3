"""The pattern engine's chunks: the vector index, the chunks in memory, and their writes.

Owned by one :class:`~actorgrid.actors.PatternEngine` and called only from its task. Every
embedding and index operation runs in a worker thread (``anyio.to_thread``) while the task
waits for it, so the event loop never runs them and the index never sees two callers at
once; search filters read the in-memory state from that thread, which nothing changes
meanwhile.

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
from ._embedder import validate_texts
from ._failure_memory import FailureMemory, FailureNote
from ._pattern_index import embed_batches, open_index
from ._pattern_messages import metadata_matches
from ._pattern_protocol import Reference
from ._pattern_settings import FAILURE_SOURCE

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import numpy.typing as npt
    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.storage import Op, Receipt, Writer

    from ._embedder import Embedder
    from ._exact_search import Hit
    from ._pattern_index import OpenedIndex
    from ._pattern_messages import ChunkInput
    from ._pattern_settings import PatternSettings
    from ._vector_index import VectorIndex

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
        index: VectorIndex,
        writer: Writer | None,
        path: Path | None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.writer = writer
        self.path = path
        self.chunks: dict[int, Chunk] = {}
        """Every indexed chunk by id."""
        self.failures: set[int] = set()
        """Ids of the chunks whose source is ``failure``."""
        self.memory = FailureMemory()
        self.next_id = 0
        self.dirty = False
        """The index changed since it was last saved."""
        self.saves = 0
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}
        """Vectors of recently embedded failure and query texts (see :meth:`embed`)."""
        self._receipts: deque[tuple[Receipt, tuple[int, ...]]] = deque()

    @classmethod
    async def open(
        cls,
        settings: PatternSettings,
        embedder: Embedder,
        *,
        engine: AsyncEngine | None,
        writer: Writer | None,
        path: Path | None,
    ) -> tuple[ChunkStore, OpenedIndex, int]:
        """Read the table, open (or rebuild) the index, and take every chunk into memory.

        Returns:
            The store, what opening the index found, and how many chunks the table holds.

        Raises:
            EmbeddingError: a stored text cannot be embedded.
            Exception: the table cannot be read.
        """
        rows: list[Chunk] = []
        if engine is not None and writer is not None:
            await writer.flush()  # an earlier incarnation's writes come first
            rows = await read_chunks(engine)
        opened = await anyio.to_thread.run_sync(open_index, path, embedder, rows, settings)
        store = cls(settings, embedder, opened.index, writer, path)
        for chunk in rows:
            store._register(chunk)
        store.next_id = max([c.id for c in rows] + opened.index.ids(), default=-1) + 1
        stale = any(c.embedder != embedder.name or c.dim != embedder.dim for c in rows)
        if stale and writer is not None:
            await writer.write(retag_op(embedder.name, embedder.dim))
        if opened.reason is not None or opened.added or opened.removed:
            store.dirty = bool(rows) or opened.file_existed
            await store.save()
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
        return len(self.chunks) > len(self.failures)

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
        """Save the index if it changed (atomically; a failed save is retried later)."""
        if self.path is None or not self.dirty:
            return
        self.dirty = False
        try:
            await anyio.to_thread.run_sync(self.index.save, self.path)
        except OSError as exc:
            self.dirty = True
            _log.warning("pattern_index_save_failed", path=str(self.path), error=repr(exc))
        else:
            self.saves += 1

    # -- chunks ---------------------------------------------------------------------------

    async def add(self, chunks: Sequence[ChunkInput], now: float) -> tuple[int, ...]:
        """Embed, commit, then index validated chunks; nothing changes if a step fails.

        Raises:
            EmbeddingError: a text cannot be embedded.
            StorageError: the rows could not be committed.
        """
        embedder = self.embedder
        vectors = await anyio.to_thread.run_sync(
            embed_batches, embedder, [c.text for c in chunks], self.settings.embed_batch_size
        )
        new = [Chunk(self.allocate(), c.source, c.text, c.metadata, now) for c in chunks]
        if self.writer is not None:
            await self.writer.write(*(insert_op(c, embedder.name, embedder.dim) for c in new))
        ids = tuple(c.id for c in new)
        await anyio.to_thread.run_sync(self.index.add, ids, vectors)
        self.dirty = True
        for chunk in new:
            self.chunks[chunk.id] = chunk
        return ids

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
            near = await anyio.to_thread.run_sync(
                self._index_failures, ids, [n.text for n in notes]
            )
        except Exception:
            self.failures.difference_update(ids)
            raise
        self.dirty = True
        for note in notes:
            self.chunks[note.id] = Chunk(note.id, FAILURE_SOURCE, note.text, {}, note.seen_at)
        return near

    def _index_failures(self, ids: tuple[int, ...], texts: list[str]) -> list[list[int]]:
        """(worker thread) Embed and add failures; find each one's alike earlier failures."""
        vectors = self.embed(texts)
        self.index.add(ids, vectors)
        floor = self.settings.recurring_min_similarity
        failures = self.failures
        return [
            [
                hit.id
                for hit in self.index.search(
                    vector,
                    k=8,
                    min_similarity=floor,
                    filter=functools.partial(_earlier_failure, failures, chunk_id),
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
        await anyio.to_thread.run_sync(self._delete_from_index, ids)
        self.dirty = True
        for chunk_id in ids:
            self.chunks.pop(chunk_id, None)
            self.failures.discard(chunk_id)
        self.memory.remove(ids)

    def _delete_from_index(self, ids: Sequence[int]) -> None:
        """(worker thread) Delete labels; compact the graph once enough slots are deleted."""
        self.index.delete(ids)
        self.index.compact(min_deleted_fraction=self.settings.compact_fraction)

    # -- searches -------------------------------------------------------------------------

    async def search(
        self, query: str, k: int, floor: float, flt: Callable[[int], bool] | None
    ) -> list[Hit]:
        """Embed ``query`` and return up to ``k`` hits at least ``floor`` similar.

        Raises:
            EmbeddingError: the query cannot be embedded.
        """
        if not self.chunks:
            return []
        return await anyio.to_thread.run_sync(self._search_text, query, k, floor, flt)

    def _search_text(
        self, query: str, k: int, floor: float, flt: Callable[[int], bool] | None
    ) -> list[Hit]:
        """(worker thread) Embed ``query`` and search."""
        return self.index.search(self.embed([query])[0], k, floor, flt)

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """(worker thread) Embed ``texts`` with the store's embedder, reusing recent vectors.

        Failure texts recur (every message that meets the same fault fails with the same
        text), and a revise embeds the failure it follows and the target's earlier ones
        again, so the vectors of the last few thousand texts are kept.

        Raises:
            EmbeddingError: a text is empty or not a string (nothing is cached).
        """
        found: dict[str, npt.NDArray[np.float32]] = {}
        cache = self._vectors
        for text in validate_texts(texts):
            vector = cache.get(text)
            if vector is not None:
                found[text] = vector
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = self.embedder.embed(missing)
            if len(cache) + len(missing) > _VECTOR_CACHE:
                cache.clear()
            for text, vector in zip(missing, fresh, strict=True):
                found[text] = cache[text] = vector
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


def _earlier_failure(failures: set[int], before: int, chunk_id: int) -> bool:
    return chunk_id < before and chunk_id in failures
