"""The pattern engine: reference chunks in a vector index, glimpse, revise, failure memory.

One actor owns one :class:`~actorgrid.actors.VectorIndex` (cosine) over the
``reference_chunks`` table (see :mod:`actorgrid.actors._chunk_store`): runbooks and
documents added through :class:`AddChunks`, and the error text of every failure the broker
notes (source ``failure``). It answers the broker's :class:`Glimpse` (before an explicit
early retry) and :class:`Revise` (before each revise-phase attempt) and recognises
recurring failures (see :mod:`actorgrid.actors._failure_memory`).

Invariants:

* Only this actor's task touches the store; timers only send it messages.
* Failures are buffered and indexed in batches (a failure note is a tell and must never
  hold up the broker); every lookup that reads failures (revise, searches, patterns,
  statistics) indexes the buffer first, so it always sees the failures noted before it.
* A tell never crashes the engine: a malformed note is counted and ignored, an error while
  indexing is logged. Asks get their errors back.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Final

import anyio
import structlog

from actorgrid.kernel import Actor, OneShotTimer, UnhandledMessage, send_every

from ._chunk_store import ChunkStore
from ._chunk_table import delete_op, insert_op, metadata_op
from ._engine_state import PatternCounters
from ._failure_memory import FailureNote
from ._lookup import glimpse, revise
from ._messages import (
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
)
from ._protocol import (
    FailureContext,
    Glimpse,
    NoteFailure,
    NoteOutcome,
    Reference,
    Revise,
)
from ._settings import FAILURE_SOURCE, PatternSettings, build_embedder
from ._timers import (
    FLUSH_FAILURES,
    SAVE_INDEX,
    FlushFailures,
    SaveIndex,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.storage import Op, Writer

    from ._engine_state import PatternState
    from ._indexes import OpenedIndex
    from .embedders import Embedder

__all__ = ("PatternEngine",)

_log = structlog.get_logger("actorgrid.actors.pattern")

_OUTCOMES: Final = frozenset({"success", "dead"})
_REQUESTS: Final = frozenset({"RetryEarly"})
"""Exception types that are requests to the broker, not kinds of failure."""


def _target(target_type: str, target_id: str) -> str:
    return f"{target_type}:{target_id}"


def _failure_text(ctx: FailureContext) -> str | None:
    """Return the text a failure is indexed and looked up by (``None``: it has none).

    ``RetryEarly`` asks for a faster retry; it is not a kind of failure, so its name is
    left out of the text (it would make unrelated failures alike and hide the real error).
    """
    message = ctx.error_message.strip() if isinstance(ctx.error_message, str) else ""
    if ctx.error_type in _REQUESTS:
        prefix = f"{ctx.error_type}:"
        if message.startswith(prefix) and message[len(prefix) :].strip():
            message = message[len(prefix) :].strip()
    if message:
        return message
    if isinstance(ctx.error_type, str) and ctx.error_type.strip():
        return ctx.error_type.strip()
    return None


class PatternEngine(Actor[Any]):
    """The pattern-engine actor; spawn it with a factory: ``lambda: PatternEngine(...)``.

    Each (re)start reads the table, loads (or rebuilds) the index and the failure memory,
    unless a ``state`` shared by every incarnation already holds them: then a restart
    resumes with the chunks, indexes and failure memory of the incarnation before (an
    engine without a database has nothing else to resume from). Stopping indexes buffered
    failures, waits for the engine's writes and saves the index.

    Args:
        settings: thresholds, ``k``, index parameters, intervals.
        engine: where chunks are read from at start; ``None`` (with ``writer=None``) keeps
            every chunk in memory only.
        writer: the group-commit writer chunks are written through; it must outlive the
            engine (stop the kernel before closing it).
        index_path: the index file (see ``resolve_index_path``); ``None``: memory only.
        embedder: an embedder to use instead of the one ``settings`` names.
        state: what the engine keeps across incarnations; create it once outside the actor's
            factory and pass it to every incarnation.
        counters: counters read from outside the actor (``Runtime.metrics()``); create them
            once outside the factory like ``state``.

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
        state: PatternState | None = None,
        counters: PatternCounters | None = None,
    ) -> None:
        if (engine is None) != (writer is None):
            raise ValueError("PatternEngine: give both engine and writer, or neither (in memory)")
        self._settings = settings or PatternSettings()
        self._engine = engine
        self._writer = writer
        self._path = index_path
        self._embedder = embedder
        self._state = state
        self._counters = PatternCounters() if counters is None else counters
        self._store: ChunkStore | None = None
        self._buffer: list[tuple[FailureContext, float]] = []
        self._attached: list[tuple[str, tuple[Reference, ...]]] = []
        """Glimpses' references not yet counted on their failures (see :meth:`_flush`)."""
        self._timer = OneShotTimer(FLUSH_FAILURES)
        self._scopes: list[anyio.CancelScope] = []
        self._rebuild_reason: str | None = None
        self._rebuilds = self._ignored = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Take over the shared state's store, or read the table and open the index
        (rebuilding it if it cannot be used); arm timers.

        Raises:
            EmbeddingError: the configured embedder cannot be loaded.
            Exception: the table cannot be read (the start fails).
        """
        settings = self._settings
        state = self._state
        if state is not None and state.store is not None:
            self._store = state.store  # a restart: resume with the chunks kept in memory
        else:
            embedder = self._embedder
            if embedder is None:
                embedder = await anyio.to_thread.run_sync(build_embedder, settings)
            self._store, opened, _ = await ChunkStore.open(
                settings, embedder, engine=self._engine, writer=self._writer, path=self._path
            )
            if state is not None:
                state.store = self._store
            self._report_open(opened)
        ref, clock = self.actor_ref, self.actor_clock
        self._scopes = [
            self.actor_start_task(
                self._timer.run, ref, clock, settings.failure_flush_interval, name="flush"
            ),
            self.actor_start_task(send_every, ref, clock, settings.save_interval, SAVE_INDEX),
        ]

    def _report_open(self, opened: dict[str, tuple[OpenedIndex, int]]) -> None:
        store = self._store
        assert store is not None
        paths = {"references": store.path, "failures": store.failure_path}
        for name, (found, count) in opened.items():
            where = paths[name]
            path = None if where is None else str(where)
            reason = found.reason
            if reason is None:
                if found.added or found.removed:
                    _log.info(
                        "pattern_index_reconciled",
                        index=name,
                        path=path,
                        added=found.added,
                        removed=found.removed,
                    )
            elif not found.file_existed and not count:
                _log.info("pattern_index_created", index=name, path=path)
            else:
                self._rebuilds += 1
                self._rebuild_reason = f"{name}: {reason}"
                if path is None:
                    _log.info("pattern_index_built", index=name, chunks=count, reason=reason)
                else:
                    _log.warning(
                        "pattern_index_rebuilt", index=name, path=path, chunks=count, reason=reason
                    )

    async def on_stop(self) -> None:
        """Index buffered failures, wait for the engine's writes, save the index."""
        for scope in self._scopes:
            scope.cancel()
        store = self._store
        if store is None:
            return
        await self._flush()
        await store.settle()
        await store.save()

    # -- dispatch -------------------------------------------------------------------------

    async def receive(self, message: Any) -> Any:
        """Handle one request; see the message classes for the replies.

        Raises:
            InvalidArgument: bad chunk input (nothing changes).
            InvalidQuery: a bad search (nothing changes).
            EmbeddingError: a text cannot be embedded (nothing changes).
            StorageError: chunks could not be committed or deleted (nothing changes).
            UnhandledMessage: for a message that is not part of the protocol.
        """
        store = self._store
        assert store is not None
        match message:
            case NoteFailure() | NoteOutcome() | FlushFailures() | SaveIndex():
                try:
                    await self._tell(message, store)
                except Exception as exc:
                    _log.error(
                        "pattern_note_failed", message=type(message).__name__, error=repr(exc)
                    )
                return None
            case Glimpse(context):
                # References only: buffered failures cannot change the answer, so the
                # early retry does not wait for them to be indexed (the attachment is
                # counted on the failure once it is, at the next flush).
                found = await glimpse(store, self._settings, _failure_text(context))
                if found:
                    target = _target(context.target_type, context.target_id)
                    self._attached.append((target, found))
                    self._timer.arm()  # the next flush counts it
                return found
            case Revise(context):
                await self._flush()
                target = _target(context.target_type, context.target_id)
                revision = await revise(store, self._settings, target, _failure_text(context))
                store.memory.attach(target, revision.references)
                return revision
            case SearchChunks():
                return await self._search(message, store)
            case AddChunks(chunks):
                valid = check_chunks(chunks)
                return await store.add(valid, self.actor_clock.now()) if valid else ()
            case DeleteChunks(ids):
                valid_ids = check_ids(ids)
                await self._flush()
                return await store.delete(valid_ids)
            case RecurringPatterns():
                await self._flush()
                return store.memory.patterns()
            case PatternStats():
                await self._flush()
                return self._statistics(store)
            case FlushPattern():
                await self._flush()
                await store.settle()
                return None
        raise UnhandledMessage(self.actor_name, message)

    async def _tell(self, message: Any, store: ChunkStore) -> None:
        match message:
            case NoteFailure(context):
                if not isinstance(context, FailureContext) or _failure_text(context) is None:
                    self._ignored += 1
                    return
                if self.actor_ref.mailbox_statistics().depth > self._settings.note_backlog_limit:
                    self._counters.notes_shed += 1  # shed: a backlog stands behind this note
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
                target = _target(target_type, target_id)
                if any(_target(c.target_type, c.target_id) == target for c, _ in self._buffer):
                    await self._flush()  # the failure this outcome ends may still be buffered
                ops = []
                for note in store.memory.resolve(target, outcome):
                    meta = store.chunks[note.id].meta = note.metadata()
                    ops.append(metadata_op(note.id, meta))
                store.submit(ops)
            case FlushFailures():
                await self._flush()
            case SaveIndex():
                await store.reap()
                await store.save()

    # -- failures -------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Index the buffered failures as one batch and group them into patterns.

        A batch that cannot be indexed is logged and dropped: the lookup that asked for the
        flush still gets its answer.
        """
        store = self._store
        assert store is not None
        await store.reap()
        if self._buffer:
            batch, self._buffer = self._buffer, []
            try:
                await self._index_batch(store, batch)
            except Exception as exc:
                _log.error("pattern_failures_dropped", failures=len(batch), error=repr(exc))
        attached, self._attached = self._attached, []
        for target, references in attached:
            store.memory.attach(target, references)

    async def _index_batch(
        self, store: ChunkStore, batch: list[tuple[FailureContext, float]]
    ) -> None:
        notes = []
        for ctx, at in batch:
            text = _failure_text(ctx)
            assert text is not None
            target = _target(ctx.target_type, ctx.target_id)
            notes.append(
                FailureNote(
                    store.allocate(),
                    text,
                    ctx.topic,
                    target,
                    ctx.message_id,
                    ctx.attempt,
                    ctx.error_type,
                    at,
                )
            )
        near = await store.add_failures(notes)
        memory = store.memory
        rewritten: dict[int, FailureNote] = {}
        for note, neighbours in zip(notes, near, strict=True):
            rewritten.update((n.id, n) for n in memory.add(note, neighbours))
        embedder = store.embedder
        ops: list[Op] = []
        for note in notes:
            chunk = store.chunks[note.id]
            chunk.meta = note.metadata()
            ops.append(insert_op(chunk, embedder.name, embedder.dim))
        fresh = {n.id for n in notes}
        for note in rewritten.values():
            if note.id not in fresh and note.id in store.chunks:
                meta = store.chunks[note.id].meta = note.metadata()
                ops.append(metadata_op(note.id, meta))
        store.submit(ops, tuple(fresh))
        excess = len(memory) - self._settings.max_failures
        if excess > 0:
            old = memory.oldest(excess)
            store.submit([delete_op(i) for i in old])
            await store.forget(old)

    # -- searches, glimpse and revise ------------------------------------------------------

    async def _search(self, msg: SearchChunks, store: ChunkStore) -> tuple[Reference, ...]:
        query, k, floor, source, wanted = check_search(
            msg.query, msg.k, msg.min_similarity, msg.source, msg.metadata
        )
        await self._flush()
        flt: Callable[[int], bool] | None = None
        if (source is not None and source != FAILURE_SOURCE) or wanted is not None:
            flt = functools.partial(store.matches, source, wanted)
        hits = await store.search(
            query,
            k,
            floor,
            flt,
            references=source != FAILURE_SOURCE,
            failures=source is None or source == FAILURE_SOURCE,
        )
        return tuple(store.reference(h) for h in hits)

    def _statistics(self, store: ChunkStore) -> PatternStatistics:
        refs, failures = store.ref_index.stats(), store.failure_index.stats()
        weights = getattr(store.ref_embedder, "idf", None)
        return PatternStatistics(
            embedder=store.embedder.name,
            dim=store.embedder.dim,
            chunks=len(store.chunks),
            references=len(store.chunks) - len(store.failures),
            failures=len(store.failures),
            buffered_failures=len(self._buffer),
            patterns=store.memory.pattern_count(),
            index_path=None if self._path is None else str(self._path),
            failure_index_path=None if store.failure_path is None else str(store.failure_path),
            index_slots=refs.slots + failures.slots,
            duplicates=refs.duplicates + failures.duplicates,
            ef=refs.ef,
            exact_threshold=refs.exact_threshold,
            rebuilds=self._rebuilds,
            rebuild_reason=self._rebuild_reason,
            saves=store.saves,
            notes_ignored=self._ignored,
            reference_embedder=store.ref_embedder.name,
            idf_documents=0 if weights is None else weights.documents,
            idf_refits=store.refits,
            notes_dropped=self._counters.notes_shed,
        )
