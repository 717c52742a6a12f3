"""actorgrid's built-in actors: broker, retry gate, dead letters and pattern engine."""

from __future__ import annotations

from ._embedder import Embedder as Embedder
from ._embedder import HashingEmbedder as HashingEmbedder
from ._embedder import SentenceTransformerEmbedder as SentenceTransformerEmbedder
from ._exceptions import ActorsError as ActorsError
from ._exceptions import EmbeddingError as EmbeddingError
from ._exceptions import IndexCorrupt as IndexCorrupt
from ._exceptions import IndexMismatch as IndexMismatch
from ._exceptions import InvalidQuery as InvalidQuery
from ._exceptions import InvalidRetryPolicy as InvalidRetryPolicy
from ._exceptions import InvalidTarget as InvalidTarget
from ._exceptions import InvalidVectors as InvalidVectors
from ._exceptions import UnsupportedDialect as UnsupportedDialect
from ._retry_gate import RetryGate as RetryGate
from ._retry_gate_messages import CanRetry as CanRetry
from ._retry_gate_messages import FailureOutcome as FailureOutcome
from ._retry_gate_messages import FlushGate as FlushGate
from ._retry_gate_messages import GateStats as GateStats
from ._retry_gate_messages import GetRecord as GetRecord
from ._retry_gate_messages import RecordFailure as RecordFailure
from ._retry_gate_messages import RecordSuccess as RecordSuccess
from ._retry_gate_messages import ResetTarget as ResetTarget
from ._retry_gate_messages import RetryGateMessage as RetryGateMessage
from ._retry_gate_messages import RetryGateStatistics as RetryGateStatistics
from ._retry_manager import RetryPolicyManager as RetryPolicyManager
from ._retry_policy import Decision as Decision
from ._retry_policy import Phase as Phase
from ._retry_policy import Reason as Reason
from ._retry_policy import RetryPolicy as RetryPolicy
from ._retry_policy import RetryPolicyConfig as RetryPolicyConfig
from ._retry_policy import RetryRecord as RetryRecord
from ._retry_policy import validate_target as validate_target
from ._retry_store import InMemoryRetryStore as InMemoryRetryStore
from ._retry_store import RetryStore as RetryStore
from ._retry_store import SqlRetryStore as SqlRetryStore
from ._retry_store import record_to_row as record_to_row
from ._retry_store import retry_record_delete as retry_record_delete
from ._retry_store import retry_record_upsert as retry_record_upsert
from ._retry_store import row_to_record as row_to_record
from ._vector_index import DEFAULT_EXACT_THRESHOLD as DEFAULT_EXACT_THRESHOLD
from ._vector_index import Hit as Hit
from ._vector_index import IndexStats as IndexStats
from ._vector_index import VectorIndex as VectorIndex
