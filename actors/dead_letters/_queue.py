"""The dead-letter queue actor: keeps what ran out of retries; lists, shows, replays, purges.

With a database it works on the ``dead_letters`` table (the broker inserts dead letters
itself, in the transaction that marks the message dead). Without one it keeps them in a
bounded :class:`MemoryDeadLetterStore` and receives them as :class:`FileDeadLetter` tells.

Invariants:

* The actor handles one request at a time, so two replays never interleave: a dead letter
  is replayed at most once, and a second replay reports the first one's message id.
* A dead letter whose filing failed is not dropped: the queue crashes, puts the
  :class:`FileDeadLetter` back in its own mailbox (which outlives the incarnation), and
  the restarted queue files it. Only an entry the writer refused for good
  (``WriteRejected``: a duplicate id, say) is logged and left out.
* A replay commits before it dispatches: the new ``messages`` row, the cleared retry record
  and the dead letter's ``replayed_at`` share one transaction (one ``writer.write``). A crash
  after the commit leaves a ``ready`` row that the broker's restart recovery delivers.
* The new rows are claimed (``claim``) before that transaction is submitted and released
  (``unclaim``) once dispatched: a subscription's backlog recovery that reads them in
  between skips them, so a replay is delivered once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, final

import msgspec
import structlog

from actorgrid.kernel import Actor, ActorDeadError, MailboxFull, MessageDecodeError
from actorgrid.storage import WriteRejected

from .._delivery import Delivery, Envelope, new_message_id
from .._exceptions import DeadLetterNotFound, InvalidArgument
from ..retry import ResetTarget
from ._messages import (
    DeadLetterCount,
    DeadLetterEntry,
    DeadLetterFilter,
    DeadLetterPage,
    DeadLetterQueueMessage,
    FileDeadLetter,
    ListDeadLetters,
    PurgeDeadLetters,
    ReplayDeadLetters,
    ReplayResult,
    ShowDeadLetter,
    decode_cursor,
    encode_cursor,
)
from ._store import DeadLetterStore, MemoryDeadLetterStore, SqlDeadLetterStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.kernel import ActorRef, Clock
    from actorgrid.storage import Writer

__all__ = ("BATCH_SIZE", "DeadLetterQueue", "FileDeadLetter")

BATCH_SIZE: Final = 500
"""Dead letters replayed or purged per transaction."""

_log = structlog.get_logger("actorgrid.actors.dead_letters")


@final
class DeadLetterQueue(Actor[DeadLetterQueueMessage]):
    """The dead-letter queue; see :mod:`._dead_letter_messages` for its protocol.

    Args:
        engine: the database to read ``dead_letters`` from, or ``None`` for memory mode.
        writer: the group-commit writer every change goes through (with ``engine``).
        clock: the time source (``created_at`` of replays, the age of a purge).
        dispatch: hands a replayed message to the broker for delivery.
        gate: the retry gate, told :class:`ResetTarget` for each replayed target.
        claim: called with the replayed deliveries before their rows are submitted, so a
            backlog recovery that reads them before their dispatch skips them.
        unclaim: called with the same deliveries once they were dispatched (or their rows
            were not committed).
        memory_capacity: most dead letters kept in memory mode.
        memory: in memory mode, the store to use; create it once outside the actor's
            factory so the dead letters survive a restart of the actor.

    Raises:
        InvalidArgument: only one of ``engine`` and ``writer`` is given, or
            ``memory_capacity`` is not an int >= 1.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine | None,
        writer: Writer | None,
        clock: Clock,
        dispatch: Callable[[Delivery], Awaitable[None]],
        gate: ActorRef[Any] | None,
        memory_capacity: int = 10_000,
        memory: MemoryDeadLetterStore | None = None,
        claim: Callable[[Sequence[Delivery]], None] | None = None,
        unclaim: Callable[[Sequence[Delivery]], None] | None = None,
    ) -> None:
        if (engine is None) != (writer is None):
            raise InvalidArgument(
                "engine/writer", (engine, writer), "both (database mode) or neither (memory)"
            )
        self._store: DeadLetterStore
        if engine is not None and writer is not None:
            self._store = SqlDeadLetterStore(engine, writer)
        else:
            self._store = memory if memory is not None else MemoryDeadLetterStore(memory_capacity)
        self._clock = clock
        self._dispatch = dispatch
        self._gate = gate
        self._claim = claim
        self._unclaim = unclaim

    async def receive(self, message: DeadLetterQueueMessage) -> Any:
        """Handle one request (see the reply table of the protocol module).

        Raises:
            DeadLetterNotFound: for :class:`ShowDeadLetter` of an unknown id.
            WriteRejected: a replay or purge transaction failed; the batches before it
                stand, nothing of the failed batch is committed.
        """
        request: object = message  # anything may arrive; unknown types raise below
        match request:
            case FileDeadLetter(entry=entry):
                await self._file(entry)
                return None
            case ListDeadLetters():
                return await self._list(request)
            case ShowDeadLetter(id=dead_letter_id):
                return await self._show(dead_letter_id)
            case DeadLetterCount(where=where):
                return await self._store.count(where)
            case ReplayDeadLetters():
                return await self._replay(request)
            case PurgeDeadLetters():
                return await self._purge(request)
        return await super().receive(message)

    async def _file(self, entry: DeadLetterEntry) -> None:
        try:
            await self._store.file(entry)
        except WriteRejected as exc:  # refused for good: filing it again cannot help
            _log.error(
                "dead_letter_file_failed",
                dead_letter_id=entry.id,
                topic=entry.topic,
                error=f"{type(exc).__name__}: {exc}",
            )
        # Anything else crashes the queue; on_failure keeps the entry for the next one.

    async def on_failure(self, exc: Exception, message: object | None) -> None:
        """A dead letter whose filing crashed the queue goes back in its mailbox, for the
        restarted queue to file."""
        if not isinstance(message, FileDeadLetter):
            return
        try:
            self.actor_ref.tell_nowait(message)
        except (MailboxFull, ActorDeadError) as refused:
            _log.error(
                "dead_letter_file_failed",
                dead_letter_id=message.entry.id,
                topic=message.entry.topic,
                error=f"{type(exc).__name__}: {exc}",
                requeue=repr(refused),
            )

    async def _list(self, request: ListDeadLetters) -> DeadLetterPage:
        before = decode_cursor(request.cursor) if request.cursor is not None else None
        found = await self._store.page(request.where, request.limit + 1, before)
        entries = tuple(found[: request.limit])
        next_cursor = None
        if len(found) > request.limit:
            last = entries[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        total = await self._store.count(request.where)
        return DeadLetterPage(entries=entries, next_cursor=next_cursor, total=total)

    async def _show(self, dead_letter_id: str) -> DeadLetterEntry:
        found, unreadable = await self._store.get_many((dead_letter_id,))
        entry = found.get(dead_letter_id)
        if entry is not None:
            return entry
        if dead_letter_id in unreadable:
            raise MessageDecodeError(Envelope, ValueError(unreadable[dead_letter_id]))
        raise DeadLetterNotFound(dead_letter_id)

    async def _selected_ids(
        self, ids: tuple[str, ...] | None, flt: DeadLetterFilter | None
    ) -> list[str]:
        if ids is not None:
            return list(dict.fromkeys(ids))
        return await self._store.select_ids(flt if flt is not None else DeadLetterFilter())

    async def _replay(self, request: ReplayDeadLetters) -> ReplayResult:
        ids = await self._selected_ids(request.ids, request.where)
        replayed: list[tuple[str, str]] = []
        already: list[tuple[str, str]] = []
        missing: list[str] = []
        failed: list[tuple[str, str]] = []
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            found, unreadable = await self._store.get_many(chunk)
            now = self._clock.now()
            batch: list[tuple[DeadLetterEntry, Delivery]] = []
            for dead_letter_id in chunk:
                entry = found.get(dead_letter_id)
                if entry is None:
                    if dead_letter_id in unreadable:
                        failed.append((dead_letter_id, unreadable[dead_letter_id]))
                    else:
                        missing.append(dead_letter_id)
                elif entry.replayed_at is not None:
                    already.append((dead_letter_id, entry.replay_message_id or ""))
                else:
                    batch.append((entry, self._fresh_delivery(entry, now)))
            if not batch:
                continue
            deliveries = [delivery for _, delivery in batch]
            if self._claim is not None:
                self._claim(deliveries)
            try:
                await self._store.mark_replayed(batch)
                await self._reset_targets(batch)
                for entry, delivery in batch:
                    await self._dispatch_one(entry, delivery)
                    replayed.append((entry.id, delivery.id))
            finally:
                if self._unclaim is not None:
                    self._unclaim(deliveries)
        _log.info(
            "dead_letters_replayed",
            replayed=len(replayed),
            already=len(already),
            missing=len(missing),
            failed=len(failed),
        )
        return ReplayResult(
            replayed=tuple(replayed),
            already=tuple(already),
            missing=tuple(missing),
            failed=tuple(failed),
        )

    def _fresh_delivery(self, entry: DeadLetterEntry, now: float) -> Delivery:
        envelope = entry.envelope
        return Delivery(
            id=new_message_id(),
            topic=entry.topic,
            target_type=entry.target_type,
            target_id=entry.target_id,
            payload=envelope.payload,
            headers=dict(envelope.headers),
            created_at=now,
            # A dead letter without a message row came from a transient topic.
            durable=self._store.durable and entry.message_id is not None,
            attempts=0,
        )

    async def _reset_targets(self, batch: Sequence[tuple[DeadLetterEntry, Delivery]]) -> None:
        if self._gate is None:
            return
        for target_type, target_id in dict.fromkeys((e.target_type, e.target_id) for e, _ in batch):
            try:
                await self._gate.tell(ResetTarget(target_type, target_id))
            except ActorDeadError:
                _log.warning(
                    "dead_letter_replay_gate_gone", target_type=target_type, target_id=target_id
                )

    async def _dispatch_one(self, entry: DeadLetterEntry, delivery: Delivery) -> None:
        try:
            await self._dispatch(delivery)
        except Exception as exc:
            # The replay is committed; a durable message stays ready for restart recovery.
            _log.warning(
                "dead_letter_replay_dispatch_failed",
                dead_letter_id=entry.id,
                message_id=delivery.id,
                topic=delivery.topic,
                durable=delivery.durable,
                error=f"{type(exc).__name__}: {exc}",
            )

    async def _purge(self, request: PurgeDeadLetters) -> int:
        where = request.where
        if request.older_than is not None:
            cutoff = self._clock.now() - request.older_than
            where = where if where is not None else DeadLetterFilter()
            until = cutoff if where.until is None else min(where.until, cutoff)
            since = where.since if where.since is None or where.since <= until else until
            where = msgspec.structs.replace(where, since=since, until=until)
        ids = await self._selected_ids(request.ids, where)
        deleted = 0
        for start in range(0, len(ids), BATCH_SIZE):
            deleted += await self._store.delete(ids[start : start + BATCH_SIZE])
        _log.info("dead_letters_purged", deleted=deleted)
        return deleted
