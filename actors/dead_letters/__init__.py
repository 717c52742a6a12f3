"""The dead-letter room: the queue actor, its stores and the ``DeadLetters`` API.

It owns the ``dead_letters`` table: what ran out of retries or could not be decoded, with
the full envelope, the error, a bounded traceback and the retry record. ``DeadLetters`` lists,
shows, counts, replays and purges; a replay re-inserts the message and resets its target
at the retry gate (``ResetTarget``). The broker files entries with ``FileDeadLetter`` or,
inside its own transaction, with ``dead_letter_insert``. It uses the retry room's protocol
and statements, the kernel and storage.
"""

from __future__ import annotations

from ._api import DeadLetters as DeadLetters
from ._messages import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from ._messages import DeadLetterCount as DeadLetterCount
from ._messages import DeadLetterEntry as DeadLetterEntry
from ._messages import DeadLetterFilter as DeadLetterFilter
from ._messages import DeadLetterPage as DeadLetterPage
from ._messages import DeadLetterQueueMessage as DeadLetterQueueMessage
from ._messages import FileDeadLetter as FileDeadLetter
from ._messages import ListDeadLetters as ListDeadLetters
from ._messages import PurgeDeadLetters as PurgeDeadLetters
from ._messages import ReplayDeadLetters as ReplayDeadLetters
from ._messages import ReplayResult as ReplayResult
from ._messages import ShowDeadLetter as ShowDeadLetter
from ._queue import DeadLetterQueue as DeadLetterQueue
from ._store import DeadLetterStore as DeadLetterStore
from ._store import MemoryDeadLetterStore as MemoryDeadLetterStore
from ._store import SqlDeadLetterStore as SqlDeadLetterStore
from ._store import dead_letter_insert as dead_letter_insert

__all__ = (
    "MAX_PAGE_SIZE",
    "DeadLetterCount",
    "DeadLetterEntry",
    "DeadLetterFilter",
    "DeadLetterPage",
    "DeadLetterQueue",
    "DeadLetterQueueMessage",
    "DeadLetterStore",
    "DeadLetters",
    "FileDeadLetter",
    "ListDeadLetters",
    "MemoryDeadLetterStore",
    "PurgeDeadLetters",
    "ReplayDeadLetters",
    "ReplayResult",
    "ShowDeadLetter",
    "SqlDeadLetterStore",
    "dead_letter_insert",
)
