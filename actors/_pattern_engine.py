"""The pattern engine: reference chunks in a vector index, glimpse, revise, failure memory.

One actor owns one :class:`~actorgrid.actors.VectorIndex` (cosine) over the
``reference_chunks`` table: runbooks and documents added through :class:`AddChunks`, and
the error text of every failure the broker notes (source ``failure``). It answers the
broker's :class:`Glimpse` (before an explicit early retry) and :class:`Revise` (before each
revise-phase attempt) and recognises recurring failures.

Invariants:

* Only this actor's task touches the index and the in-memory state. Embedding and index
  work run in a worker thread (``anyio.to_thread``) while the task waits for it, so the
  event loop never runs them and the index never sees two callers at once. Search filters
  read the state from that thread while the task waits: nothing changes it meanwhile.
* The table is the truth; the index file is a cache of its vectors. A chunk added through
  :class:`AddChunks` is committed before it is indexed. Failure chunks are submitted
  without waiting (a failure note is a tell and must never hold up the broker); a rejected
  submission takes its chunks out of the index again. Any drift left by a crash is repaired
  at the next start (see :mod:`actorgrid.actors._pattern_index`).
* Failures are buffered and indexed in batches; every lookup indexes the buffer first, so
  a retry always sees the failures noted before it.
"""

from __future__ import annotations

import contextlib
import functools
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import anyio
import structlog

from actorgrid.kernel import Actor, UnhandledMessage
from actorgrid.storage import StorageError

from ._chunk_table import Chunk, delete_op, insert_op, metadata_op, read_chunks, retag_op
from ._failure_memory import FailureMemory, FailureNote
from ._pattern_index import embed_batches, open_index
from ._pattern_messages import (
    AddChunks,
    DeleteChunks,
    FlushPattern,
    PatternStatistics,
    PatternStats,
    RecurringPatterns,
    SearchChunks,
    check_chunks,
    check_ids,
    check_search,
    metadata_matches,
)
from ._pattern_protocol import (
    FailureContext,
    Glimpse,
    NoteFailure,
    NoteOutcome,
    Reference,
    Revise,
    Revision,
)
from ._pattern_settings import FAILURE_SOURCE, PatternSettings, build_embedder
from ._pattern_suggestions import revision_suggestions
from ._pattern_timers import (
    FLUSH_FAILURES,
    SAVE_INDEX,
    FlushFailures,
    OneShotTimer,
    SaveIndex,
    every,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt
    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.storage import Op, Receipt, Writer

    from ._embedder import Embedder
    from ._exact_search import Hit
    from ._vector_index import VectorIndex

__all__ = ("PatternEngine",)

_log = structlog.get_logger("actorgrid.actors.pattern")

_NEIGHBOURS: Final = 8
"""Earlier failures a new failure is compared with when it is indexed."""
_SIMILAR: Final = 32
"""Alike failures of other targets that revise looks at."""
_OUTCOMES: Final = frozenset({"success", "dead"})


def _target(target_type: str, target_id: str) -> str:
    return f"{target_type}:{target_id}"


def _failure_text(ctx: FailureContext) -> str | None:
    for text in (ctx.error_message, ctx.error_type):
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


class PatternEngine(Actor[Any]):
    """The pattern-engine actor; spawn it with a factory: ``lambda: PatternEngine(...)``.

    Each (re)start reads the table, loads (or rebuilds) the index and the failure memory.

    Args:
        settings: thresholds, ``k``, index parameters, intervals.
        engine: where chunks are read from at start; ``None`` (with ``writer=None``) keeps
            every chunk in memory only.
        writer: the group-commit writer chunks are written through; it must outlive the
            engine (stop the kernel before closing it).
        index_path: the index file (see ``resolve_index_path``); ``None``: memory only.
        embedder: an embedder to use instead of the one ``settings`` names.

    Raises:
        ValueError: only one of ``engine`` and ``writer`` is given.
    """

    def __init__(
        self,
        settings: PatternSettings | None = None,
        *,
        engine: AsyncEngine | None = None,
        writer: Writer | None = None,
        index_path: Path | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        if (engine is None) != (writer is None):
            raise ValueError("PatternEngine: give both engine and writer, or neither (in memory)")
        self._settings = settings or PatternSettings()
        self._engine = engine
        self._writer = writer
        self._path = index_path
        self._embedder_given = embedder
        self._embedder: Embedder | None = None
        self._index: VectorIndex | None = None
        self._chunks: dict[int, Chunk] = {}
        self._failure_ids: set[int] = set()
        self._memory = FailureMemory()
        self._buffer: list[tuple[FailureContext, float]] = []
        self._receipts: deque[tuple[Receipt, tuple[int, ...]]] = deque()
        self._next_id = 0
        self._dirty = False
        self._timer = OneShotTimer(FLUSH_FAILURES)
        self._scopes: list[anyio.CancelScope] = []
        self._rebuild_reason: str | None = None
        self._rebuilds = self._saves = self._ignored = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Read the table, open the index (rebuilding it if it cannot be used), arm timers.

        Raises:
            EmbeddingError: the configured embedder cannot be loaded.
            Exception: the table cannot be read (the start fails).
        """
        settings = self._settings
        embedder = self._embedder_given
        if embedder is None:
            embedder = await anyio.to_thread.run_sync(build_embedder, settings)
        self._embedder = embedder
        chunks: list[Chunk] = []
        if self._engine is not None and self._writer is not None:
            await self._writer.flush()  # an earlier incarnation's writes come first
            chunks = await read_chunks(self._engine)
        opened = await anyio.to_thread.run_sync(open_index, self._path, embedder, chunks, settings)
        self._index = index = opened.index
        for chunk in chunks:
            self._register(chunk)
        self._next_id = max([c.id for c in chunks] + index.ids(), default=-1) + 1
        self._report_open(
            opened.reason, opened.file_existed, opened.added, opened.removed, len(chunks)
        )
        stale = any(c.embedder != embedder.name or c.dim != embedder.dim for c in chunks)
        if stale and self._writer is not None:
            await self._writer.write(retag_op(embedder.name, embedder.dim))
        if opened.reason is not None or opened.added or opened.removed:
            self._dirty = bool(chunks) or opened.file_existed
            await self._save()
        ref, clock = self.actor_ref, self.actor_clock
        self._scopes = [
            self.actor_start_task(
                self._timer.run, ref, clock, settings.failure_flush_interval, name="flush"
            ),
            self.actor_start_task(every, ref, clock, settings.save_interval, SAVE_INDEX),
        ]

    def _report_open(
        self, reason: str | None, existed: bool, added: int, removed: int, count: int
    ) -> None:
        path = None if self._path is None else str(self._path)
        if reason is None:
            if added or removed:
                _log.info("pattern_index_reconciled", path=path, added=added, removed=removed)
            return
        if self._path is not None and not existed and not count:
            _log.info("pattern_index_created", path=path)
            return
        self._rebuilds += 1
        self._rebuild_reason = reason
        if self._path is None:
            _log.info("pattern_index_built", path=None, chunks=count, reason=reason)
        else:
            _log.warning("pattern_index_rebuilt", path=path, chunks=count, reason=reason)

    def _register(self, chunk: Chunk) -> None:
        self._chunks[chunk.id] = chunk
        if chunk.source == FAILURE_SOURCE:
            self._failure_ids.add(chunk.id)
            note = FailureNote.from_chunk(chunk)
            if note is not None:
                self._memory.restore(note)

    async def on_stop(self) -> None:
        """Index buffered failures, wait for this engine's writes, save the index."""
        for scope in self._scopes:
            scope.cancel()
        if self._index is None:
            return
        try:
            await self._flush()
        except Exception as exc:
            _log.error("pattern_flush_failed", error=repr(exc))
        await self._settle_writes()
        await self._save()

    # -- dispatch -------------------------------------------------------------------------

    async def receive(self, message: Any) -> Any:
        """Handle one request; see the message classes for the replies.

        Raises:
            InvalidArgument: bad chunk input (nothing changes).
            InvalidQuery: a bad search (nothing changes).
            EmbeddingError: a text cannot be embedded (nothing changes).
            StorageError: the chunks could not be committed (nothing changes).
            UnhandledMessage: for a message that is not part of the protocol.
        """
        match message:
            case NoteFailure() | NoteOutcome() | FlushFailures() | SaveIndex():
                # Tells: a failure here is logged, never a crash that drops the index.
                try:
                    await self._tell(message)
                except Exception as exc:
                    _log.error(
                        "pattern_note_failed", message=type(message).__name__, error=repr(exc)
                    )
                return None
            case Glimpse(context):
                await self._flush()
                return await self._glimpse(context)
            case Revise(context):
                await self._flush()
                return await self._revise(context)
            case SearchChunks():
                return await self._search(message)
            case AddChunks(chunks):
                return await self._add(chunks)
            case DeleteChunks(ids):
                return await self._delete(ids)
            case RecurringPatterns():
                await self._flush()
                return self._memory.patterns()
            case PatternStats():
                await self._flush()
                return self._statistics()
            case FlushPattern():
                await self._flush()
                await self._settle_writes()
                return None
        raise UnhandledMessage(self.actor_name, message)

    async def _tell(self, message: Any) -> None:
        match message:
            case NoteFailure(context):
                if not isinstance(context, FailureContext) or _failure_text(context) is None:
                    self._ignored += 1
                    return
                self._buffer.append((context, self.actor_clock.now()))
                if len(self._buffer) >= self._settings.failure_batch_size:
                    await self._flush()
                else:
                    self._timer.arm()
            case NoteOutcome(target_type, target_id, outcome):
                if outcome not in _OUTCOMES:
                    self._ignored += 1
                    return
                await self._note_outcome(_target(target_type, target_id), outcome)
            case FlushFailures():
                await self._flush()
            case SaveIndex():
                await self._reap()
                await self._save()

    # -- failures -------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Index the buffered failures as one batch and group them into patterns."""
        await self._reap()
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        notes = []
        for ctx, at in batch:
            text = _failure_text(ctx)
            assert text is not None
            notes.append(
                FailureNote(
                    self._next_id,
                    text,
                    ctx.topic,
                    _target(ctx.target_type, ctx.target_id),
                    ctx.message_id,
                    ctx.attempt,
                    ctx.error_type,
                    at,
                )
            )
            self._next_id += 1
        ids = tuple(n.id for n in notes)
        self._failure_ids.update(ids)
        try:
            near = await anyio.to_thread.run_sync(
                self._index_failures, ids, [n.text for n in notes]
            )
        except Exception:
            self._failure_ids.difference_update(ids)
            raise
        self._dirty = True
        fresh = set(ids)
        rewritten: dict[int, FailureNote] = {}
        for note, neighbours in zip(notes, near, strict=True):
            rewritten.update((n.id, n) for n in self._memory.add(note, neighbours))
            self._chunks[note.id] = Chunk(note.id, FAILURE_SOURCE, note.text, {}, note.seen_at)
        ops: list[Op] = []
        embedder = self._embedder
        assert embedder is not None
        for note in notes:
            chunk = self._chunks[note.id]
            chunk.meta = note.metadata()
            ops.append(insert_op(chunk, embedder.name, embedder.dim))
        for note in rewritten.values():
            if note.id not in fresh and note.id in self._chunks:
                self._chunks[note.id].meta = note.metadata()
                ops.append(metadata_op(note.id, note.metadata()))
        self._submit(ops, ids)
        await self._prune()

    def _index_failures(self, ids: Sequence[int], texts: list[str]) -> list[list[int]]:
        """(worker thread) Embed and add failures; return each one's alike earlier failures."""
        assert self._embedder is not None
        assert self._index is not None
        vectors = self._embedder.embed(texts)
        self._index.add(ids, vectors)
        floor = self._settings.recurring_min_similarity
        return [
            [
                h.id
                for h in self._index.search(
                    vector,
                    k=_NEIGHBOURS,
                    min_similarity=floor,
                    filter=functools.partial(_earlier_failure, self._failure_ids, chunk_id),
                )
            ]
            for chunk_id, vector in zip(ids, vectors, strict=True)
        ]

    async def _note_outcome(self, target: str, outcome: str) -> None:
        if any(_target(c.target_type, c.target_id) == target for c, _ in self._buffer):
            await self._flush()  # the failure this outcome ends may still be buffered
        ops = []
        for note in self._memory.resolve(target, outcome):
            meta = note.metadata()
            self._chunks[note.id].meta = meta
            ops.append(metadata_op(note.id, meta))
        self._submit(ops)

    async def _prune(self) -> None:
        excess = len(self._memory) - self._settings.max_failures
        if excess > 0:
            ids = self._memory.oldest(excess)
            self._submit([delete_op(i) for i in ids])
            await self._forget(ids)

    # -- writes ---------------------------------------------------------------------------

    def _submit(self, ops: list[Op], inserted: tuple[int, ...] = ()) -> None:
        if self._writer is None or not ops:
            return
        try:
            receipt = self._writer.submit(*ops)
        except StorageError as exc:
            _log.warning("pattern_write_refused", error=repr(exc), chunks=len(inserted))
            return
        self._receipts.append((receipt, inserted))

    async def _reap(self) -> None:
        """Take the chunks of rejected failure submissions back out of the index."""
        lost: list[int] = []
        while self._receipts and self._receipts[0][0].done:
            receipt, inserted = self._receipts.popleft()
            if receipt.error is not None:
                _log.warning("pattern_write_rejected", error=repr(receipt.error))
                lost.extend(i for i in inserted if i in self._chunks)
        if lost:
            await self._forget(lost)

    async def _settle_writes(self) -> None:
        for receipt, _ in list(self._receipts):
            with contextlib.suppress(StorageError):
                await receipt.wait()
        await self._reap()

    async def _forget(self, ids: Sequence[int]) -> None:
        """Drop chunks from the index and from memory (their rows are dealt with already)."""
        if not ids:
            return
        await anyio.to_thread.run_sync(self._delete_from_index, ids)
        self._dirty = True
        for chunk_id in ids:
            self._chunks.pop(chunk_id, None)
            self._failure_ids.discard(chunk_id)
        self._memory.remove(ids)

    def _delete_from_index(self, ids: Sequence[int]) -> None:
        """(worker thread) Delete labels and compact the graph if enough slots are deleted."""
        assert self._index is not None
        self._index.delete(ids)
        self._index.compact(min_deleted_fraction=self._settings.compact_fraction)

    async def _save(self) -> None:
        if self._path is None or not self._dirty or self._index is None:
            return
        self._dirty = False
        try:
            await anyio.to_thread.run_sync(self._index.save, self._path)
        except OSError as exc:
            self._dirty = True
            _log.warning("pattern_index_save_failed", path=str(self._path), error=repr(exc))
        else:
            self._saves += 1

    # -- chunks ---------------------------------------------------------------------------

    async def _add(self, raw: object) -> tuple[int, ...]:
        chunks = check_chunks(raw)
        if not chunks:
            return ()
        embedder = self._embedder
        assert embedder is not None
        vectors = await anyio.to_thread.run_sync(
            embed_batches, embedder, [c.text for c in chunks], self._settings.embed_batch_size
        )
        now = self.actor_clock.now()
        new = []
        for c in chunks:
            new.append(Chunk(self._next_id, c.source, c.text, c.metadata, now))
            self._next_id += 1
        if self._writer is not None:
            await self._writer.write(*(insert_op(c, embedder.name, embedder.dim) for c in new))
        ids = tuple(c.id for c in new)
        assert self._index is not None
        await anyio.to_thread.run_sync(self._index.add, ids, vectors)
        self._dirty = True
        for chunk in new:
            self._chunks[chunk.id] = chunk
        return ids

    async def _delete(self, raw: object) -> int:
        ids = check_ids(raw)
        await self._flush()
        present = [i for i in ids if i in self._chunks]
        if not present:
            return 0
        if self._writer is not None:
            await self._writer.write(*(delete_op(i) for i in present))
        await self._forget(present)
        return len(present)

    async def _search(self, msg: SearchChunks) -> tuple[Reference, ...]:
        query, k, floor, source, wanted = check_search(
            msg.query, msg.k, msg.min_similarity, msg.source, msg.metadata
        )
        await self._flush()
        chunks = self._chunks
        flt: Callable[[int], bool] | None = None
        if source is not None or wanted is not None:
            flt = functools.partial(_chunk_matches, chunks, source, wanted)
        hits = await self._lookup(query, k, floor, flt)
        return tuple(self._reference(h) for h in hits)

    async def _lookup(
        self, query: str, k: int, floor: float, flt: Callable[[int], bool] | None
    ) -> list[Hit]:
        if not self._chunks:
            return []
        return await anyio.to_thread.run_sync(self._search_text, query, k, floor, flt)

    def _search_text(
        self, query: str, k: int, floor: float, flt: Callable[[int], bool] | None
    ) -> list[Hit]:
        """(worker thread) Embed ``query`` and search."""
        assert self._embedder is not None
        assert self._index is not None
        return self._index.search(self._embedder.embed([query])[0], k, floor, flt)

    def _reference(self, hit: Hit) -> Reference:
        c = self._chunks[hit.id]
        return Reference(
            chunk_id=c.id,
            source=c.source,
            text=c.text,
            similarity=hit.similarity,
            metadata=dict(c.meta),
        )

    # -- glimpse and revise ---------------------------------------------------------------

    def _has_references(self) -> bool:
        return len(self._chunks) > len(self._failure_ids)

    async def _glimpse(self, ctx: FailureContext) -> tuple[Reference, ...]:
        query = _failure_text(ctx)
        if query is None or not self._has_references():
            return ()
        s = self._settings
        flt = functools.partial(_not_failure, self._failure_ids)
        hits = await self._lookup(query, s.glimpse_k, s.glimpse_min_similarity, flt)
        return tuple(self._reference(h) for h in hits)

    async def _revise(self, ctx: FailureContext) -> Revision:
        s = self._settings
        target = _target(ctx.target_type, ctx.target_id)
        own = [n for n in self._memory.of_target(target) if n.outcome == "pending"]
        query = _failure_text(ctx) or (own[-1].text if own else None)
        refs: list[Hit] = []
        similar: list[Hit] = []
        same = False
        if query is not None:
            refs, similar, same = await anyio.to_thread.run_sync(
                self._revise_lookup, query, target, [n.text for n in own]
            )
        references = tuple(self._reference(h) for h in refs)
        pattern = self._memory.pattern_of(own[-1].id) if own else None
        suggestions = revision_suggestions(
            references=references,
            own=own,
            own_same=same,
            similar=[self._memory.notes[h.id] for h in similar if h.id in self._memory],
            memory=self._memory,
            pattern=pattern,
            min_similarity=s.revise_min_similarity,
        )
        return Revision(references=references, suggestions=suggestions, pattern=pattern)

    def _revise_lookup(
        self, query: str, target: str, own_texts: list[str]
    ) -> tuple[list[Hit], list[Hit], bool]:
        """(worker thread) References, other targets' alike failures, and whether this
        target's failures so far all look the same."""
        assert self._embedder is not None
        assert self._index is not None
        s = self._settings
        vectors = self._embedder.embed([query, *own_texts])
        q = vectors[0]
        refs: list[Hit] = []
        if self._has_references():
            refs = self._index.search(
                q,
                s.revise_k,
                s.revise_min_similarity,
                functools.partial(_not_failure, self._failure_ids),
            )
        similar = self._index.search(
            q,
            _SIMILAR,
            s.recurring_min_similarity,
            functools.partial(_other_target_failure, self._memory, target),
        )
        return refs, similar, _all_alike(vectors[1:], s.recurring_min_similarity)

    def _statistics(self) -> PatternStatistics:
        assert self._embedder is not None
        assert self._index is not None
        stats = self._index.stats()
        return PatternStatistics(
            embedder=self._embedder.name,
            dim=self._embedder.dim,
            chunks=len(self._chunks),
            references=len(self._chunks) - len(self._failure_ids),
            failures=len(self._failure_ids),
            buffered_failures=len(self._buffer),
            patterns=self._memory.pattern_count(),
            index_path=None if self._path is None else str(self._path),
            index_slots=stats.slots,
            ef=stats.ef,
            exact_threshold=stats.exact_threshold,
            rebuilds=self._rebuilds,
            rebuild_reason=self._rebuild_reason,
            saves=self._saves,
            notes_ignored=self._ignored,
        )


# -- search filters (called from the worker thread while the actor waits) -----------------


def _earlier_failure(failures: set[int], before: int, chunk_id: int) -> bool:
    return chunk_id < before and chunk_id in failures


def _not_failure(failures: set[int], chunk_id: int) -> bool:
    return chunk_id not in failures


def _other_target_failure(memory: FailureMemory, target: str, chunk_id: int) -> bool:
    note = memory.notes.get(chunk_id)
    return note is not None and note.target != target


def _chunk_matches(
    chunks: dict[int, Chunk], source: str | None, wanted: dict[str, Any] | None, chunk_id: int
) -> bool:
    chunk = chunks.get(chunk_id)
    return (
        chunk is not None
        and (source is None or chunk.source == source)
        and (wanted is None or metadata_matches(chunk.meta, wanted))
    )


def _all_alike(vectors: npt.NDArray[np.float32], floor: float) -> bool:
    if len(vectors) < 2:
        return False
    return bool(((vectors @ vectors[-1]) >= floor).all())
