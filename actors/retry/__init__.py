"""The retry room: the policy (the phase table), the manager, its stores and the retry gate.

It owns the time-windowed retry state per target: ``RetryPolicy`` decides from a record,
``RetryPolicyManager`` runs it over a ``RetryStore`` (in memory or SQL), and the
``RetryGate`` actor keeps the records in an in-memory cache and writes them behind to the
``retry_records`` table through the storage writer. Its protocol messages (``CanRetry``,
``RecordFailure``, ``RecordSuccess``, ``ResetTarget``, ...) are how the broker and the dead
letters talk to it. It uses the kernel and storage, and no other room.
"""

from __future__ import annotations

from ._gate import RetryGate as RetryGate
from ._gate_state import GateState as GateState
from ._manager import RetryPolicyManager as RetryPolicyManager
from ._messages import CanRetry as CanRetry
from ._messages import CanRetryBatch as CanRetryBatch
from ._messages import FailureOutcome as FailureOutcome
from ._messages import FlushGate as FlushGate
from ._messages import GateStats as GateStats
from ._messages import GetRecord as GetRecord
from ._messages import RecordFailure as RecordFailure
from ._messages import RecordFailureBatch as RecordFailureBatch
from ._messages import RecordSuccess as RecordSuccess
from ._messages import ResetTarget as ResetTarget
from ._messages import RetryGateMessage as RetryGateMessage
from ._messages import RetryGateStatistics as RetryGateStatistics
from ._messages import Submitted as Submitted
from ._policy import Decision as Decision
from ._policy import Phase as Phase
from ._policy import Reason as Reason
from ._policy import RetryPolicy as RetryPolicy
from ._policy import RetryPolicyConfig as RetryPolicyConfig
from ._policy import RetryRecord as RetryRecord
from ._policy import validate_target as validate_target
from ._store import RECORD_COLUMNS as RECORD_COLUMNS
from ._store import InMemoryRetryStore as InMemoryRetryStore
from ._store import RetryStore as RetryStore
from ._store import SqlRetryStore as SqlRetryStore
from ._store import record_to_row as record_to_row
from ._store import retry_record_delete as retry_record_delete
from ._store import retry_record_reset as retry_record_reset
from ._store import retry_record_upsert as retry_record_upsert
from ._store import row_to_record as row_to_record

__all__ = (
    "RECORD_COLUMNS",
    "CanRetry",
    "CanRetryBatch",
    "Decision",
    "FailureOutcome",
    "FlushGate",
    "GateState",
    "GateStats",
    "GetRecord",
    "InMemoryRetryStore",
    "Phase",
    "Reason",
    "RecordFailure",
    "RecordFailureBatch",
    "RecordSuccess",
    "ResetTarget",
    "RetryGate",
    "RetryGateMessage",
    "RetryGateStatistics",
    "RetryPolicy",
    "RetryPolicyConfig",
    "RetryPolicyManager",
    "RetryRecord",
    "RetryStore",
    "SqlRetryStore",
    "Submitted",
    "record_to_row",
    "retry_record_delete",
    "retry_record_reset",
    "retry_record_upsert",
    "row_to_record",
    "validate_target",
)
