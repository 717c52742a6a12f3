"""actorgrid's storage: engine factory, models, group-commit writer and migrations runner."""

from __future__ import annotations

from ._engine import DEFAULT_URL as DEFAULT_URL
from ._engine import create_engine as create_engine
from ._exceptions import FlushTimeout as FlushTimeout
from ._exceptions import InvalidDatabaseURL as InvalidDatabaseURL
from ._exceptions import InvalidOp as InvalidOp
from ._exceptions import InvalidStorageArgument as InvalidStorageArgument
from ._exceptions import MigrationError as MigrationError
from ._exceptions import StorageError as StorageError
from ._exceptions import WriterClosed as WriterClosed
from ._exceptions import WriteRejected as WriteRejected
from ._exceptions import WriterNotStarted as WriterNotStarted
from ._migrate import current_revision as current_revision
from ._migrate import current_revision_async as current_revision_async
from ._migrate import downgrade as downgrade
from ._migrate import downgrade_async as downgrade_async
from ._migrate import engine_revision as engine_revision
from ._migrate import head_revision as head_revision
from ._migrate import migrate as migrate
from ._migrate import migrate_async as migrate_async
from ._models import KEY_MAX_LENGTH as KEY_MAX_LENGTH
from ._models import MESSAGE_STATES as MESSAGE_STATES
from ._models import AnalyticsBucket as AnalyticsBucket
from ._models import Base as Base
from ._models import DeadLetter as DeadLetter
from ._models import MessageRow as MessageRow
from ._models import ReferenceChunk as ReferenceChunk
from ._models import RetryRecordRow as RetryRecordRow
from ._op import Op as Op
from ._reading import read_connection as read_connection
from ._receipt import Receipt as Receipt
from ._writer import Writer as Writer
from ._writer import WriterStatistics as WriterStatistics

__all__ = (
    "DEFAULT_URL",
    "KEY_MAX_LENGTH",
    "MESSAGE_STATES",
    "AnalyticsBucket",
    "Base",
    "DeadLetter",
    "FlushTimeout",
    "InvalidDatabaseURL",
    "InvalidOp",
    "InvalidStorageArgument",
    "MessageRow",
    "MigrationError",
    "Op",
    "Receipt",
    "ReferenceChunk",
    "RetryRecordRow",
    "StorageError",
    "WriteRejected",
    "Writer",
    "WriterClosed",
    "WriterNotStarted",
    "WriterStatistics",
    "create_engine",
    "current_revision",
    "current_revision_async",
    "downgrade",
    "downgrade_async",
    "engine_revision",
    "head_revision",
    "migrate",
    "migrate_async",
    "read_connection",
)
