"""Retrieval quality of the default embedder on a small runbook corpus written for this test.

Each query is a realistic error message worded differently from the runbook chunk that
explains it. The seed's thresholds (glimpse: 1 chunk >= 0.5, revise: 3 chunks >= 0.4) were
chosen for semantic models; the lexical hashing embedder scores a short error message
against a paragraph at about 0.25 to 0.5, so these tests check what must hold whatever
the thresholds are (right chunk on top, nothing wrong or unrelated above a threshold, the
correct matches separable from unrelated text), not how many chunks clear 0.5.
"""

from __future__ import annotations

import numpy as np
import pytest

from actorgrid import HashingEmbedder
from actorgrid.actors.patterns.index import VectorIndex

GLIMPSE = (1, 0.5)
"""The seed's glimpse: at most 1 chunk with similarity >= 0.5."""
REVISE = (3, 0.4)
"""The seed's revise: at most 3 chunks with similarity >= 0.4."""

RUNBOOK = {
    "timeout": (
        "Upstream request timeouts: when a call to a downstream service times out (read "
        "timeout, deadline exceeded), check the service's latency dashboard, raise the client "
        "timeout only if the service is healthy, and retry with backoff; repeated timeouts "
        "usually mean the upstream is overloaded."
    ),
    "db_locked": (
        "SQLite 'database is locked' errors happen when another connection holds the write "
        "lock. Use WAL mode, a busy_timeout of several seconds, keep write transactions "
        "short, and route all writes through one writer."
    ),
    "rate_limit": (
        "Rate limiting (HTTP 429 Too Many Requests): the API quota for this client is "
        "exhausted. Honour the Retry-After header, slow down the request rate, and spread "
        "retries with jitter instead of retrying immediately."
    ),
    "auth": (
        "Authentication failures (HTTP 401 Unauthorized, invalid credentials): the API key "
        "or token is wrong, expired or revoked. Rotate the credential in the secret store and "
        "redeploy; retrying with the same credentials will not help."
    ),
    "dns": (
        "DNS resolution failures: the hostname could not be resolved (NXDOMAIN, name or "
        "service not known, temporary failure in name resolution). Check the resolver "
        "configuration, the spelling of the host, and whether the DNS record exists."
    ),
    "disk_full": (
        "Disk full: writes fail with 'No space left on device' (ENOSPC). Free space by "
        "rotating logs and removing old artifacts, check inode usage, and alert before the "
        "volume fills up."
    ),
    "tls": (
        "TLS certificate problems: the handshake fails because the server certificate has "
        "expired, is self-signed, or does not match the hostname. Renew the certificate, fix "
        "the chain, or update the trusted CA bundle; do not disable verification."
    ),
    "oom": (
        "Out of memory: the process was killed by the OOM killer or raised MemoryError "
        "because it exceeded its memory limit. Process data in smaller batches, fix leaks, or "
        "raise the container memory limit."
    ),
    "conn_refused": (
        "Connection refused (ECONNREFUSED): nothing is listening on the target host and port. "
        "The service is down, still starting, or the port is wrong; check that the service "
        "is running and the port matches the configuration."
    ),
    "validation": (
        "Schema validation errors: the payload does not match the expected schema (missing "
        "required field, wrong type, unexpected value). Fix the producer or migrate the "
        "message; retrying the same invalid payload will always fail."
    ),
    "deadlock": (
        "Database deadlocks: two transactions wait on each other's row locks and one is "
        "aborted with a deadlock error. Retry the aborted transaction and take locks in a "
        "consistent order."
    ),
    "permission": (
        "Permission denied (EACCES, HTTP 403 Forbidden): the process or account lacks the "
        "rights to the file or resource. Check file ownership and mode, or grant the role the "
        "missing permission."
    ),
    "not_found": (
        "Resource not found (HTTP 404): the requested object or URL does not exist. Check the "
        "identifier and the route; the object may have been deleted, so retrying will not "
        "help."
    ),
    "server_error": (
        "Upstream server errors (HTTP 500, 502 Bad Gateway, 503 Service Unavailable): the "
        "dependency is failing or restarting. Retry with exponential backoff and check the "
        "dependency's health and recent deploys."
    ),
}

QUERIES = {
    "timeout": (
        "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='billing.internal', "
        "port=443): Read timed out. (read timeout=30)"
    ),
    "db_locked": "sqlite3.OperationalError: database is locked",
    "rate_limit": (
        "HTTPError: 429 Client Error: Too Many Requests for url: https://api.example.com/v1/orders"
    ),
    "auth": "401 Unauthorized: invalid API key provided",
    "dns": "socket.gaierror: [Errno -2] Name or service not known",
    "disk_full": "OSError: [Errno 28] No space left on device: '/var/lib/app/data.tmp'",
    "tls": (
        "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed: certificate has expired"
    ),
    "oom": "MemoryError: unable to allocate 2.00 GiB for an array",
    "conn_refused": (
        "ConnectionRefusedError: [Errno 111] Connection refused while connecting to 10.0.0.5:5432"
    ),
    "validation": (
        "msgspec.ValidationError: Object missing required field `customer_id` - at `$.order`"
    ),
    "deadlock": (
        "psycopg.errors.DeadlockDetected: deadlock detected DETAIL: Process 4242 waits for "
        "ShareLock on transaction 99"
    ),
    "permission": "PermissionError: [Errno 13] Permission denied: '/etc/app/secret.key'",
    "not_found": "404 Not Found: no order with id 8812 at /v1/orders/8812",
    "server_error": "502 Bad Gateway from upstream payments service",
}

UNRELATED = (
    "The quarterly sales report is ready for review",
    "Please book a meeting room for Thursday afternoon",
    "New hire onboarding checklist and laptop setup",
    "Happy birthday to the whole team",
    "KeyError: 'user_id'",
    "IndexError: list index out of range",
    "ZeroDivisionError: division by zero",
)

# A recurring failure: the error text of an earlier failure and a new one of the same kind.
RECURRING = (
    (
        "sqlite3.OperationalError: database is locked",
        "sqlite3.OperationalError: database is locked (while writing job 42)",
    ),
    (
        "HTTPError: 429 Client Error: Too Many Requests for url: https://api.example.com/v1/a",
        "HTTPError: 429 Client Error: Too Many Requests for url: https://api.example.com/v1/b",
    ),
    (
        "ConnectionRefusedError: [Errno 111] Connection refused",
        "ConnectionRefusedError: [Errno 111] Connection refused while connecting to 10.0.0.7:6379",
    ),
)

KEYS = list(RUNBOOK)


@pytest.fixture(name="embedder", scope="module")
def _embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(name="index", scope="module", params=["exact", "hnsw"])
def _index(request: pytest.FixtureRequest, embedder: HashingEmbedder) -> VectorIndex:
    index = VectorIndex(
        embedder.dim,
        exact_threshold=10**9 if request.param == "exact" else 0,
        embedder_name=embedder.name,
        num_threads=1,
    )
    index.add(range(len(KEYS)), embedder.embed([RUNBOOK[k] for k in KEYS]))
    return index


def search(
    index: VectorIndex, embedder: HashingEmbedder, text: str, k: int, min_similarity: float = -1.0
) -> list[str]:
    hits = index.search(embedder.embed([text])[0], k=k, min_similarity=min_similarity)
    return [KEYS[h.id] for h in hits]


class TestRunbookRetrieval:
    """Every failure message retrieves the chunk that explains it."""

    @pytest.mark.parametrize("kind", list(QUERIES))
    def test_top_hit_is_the_right_chunk(
        self, index: VectorIndex, embedder: HashingEmbedder, kind: str
    ) -> None:
        """The chunk about the failure kind is the most similar one."""
        assert search(index, embedder, QUERIES[kind], 1) == [kind]

    def test_glimpse_thresholds_never_return_a_wrong_chunk(
        self, index: VectorIndex, embedder: HashingEmbedder
    ) -> None:
        """With k=1, min 0.5, a query gets its own chunk or nothing."""
        for kind, query in QUERIES.items():
            assert search(index, embedder, query, *GLIMPSE) in ([], [kind])

    def test_revise_thresholds_put_the_right_chunk_first(
        self, index: VectorIndex, embedder: HashingEmbedder
    ) -> None:
        """With k=3, min 0.4, whatever comes back starts with the query's own chunk."""
        for kind, query in QUERIES.items():
            found = search(index, embedder, query, *REVISE)
            assert found == [] or found[0] == kind

    def test_unrelated_text_clears_no_threshold(
        self, index: VectorIndex, embedder: HashingEmbedder
    ) -> None:
        """Text about nothing in the runbook gets nothing under glimpse or revise."""
        for text in UNRELATED:
            assert search(index, embedder, text, *GLIMPSE) == []
            assert search(index, embedder, text, *REVISE) == []

    def test_matches_are_separable_from_unrelated_text(
        self, index: VectorIndex, embedder: HashingEmbedder
    ) -> None:
        """Some threshold admits every right chunk and no unrelated text's best chunk."""
        right = [index.search(embedder.embed([QUERIES[k]])[0], k=1)[0].similarity for k in QUERIES]
        unrelated = [index.search(embedder.embed([t])[0], k=1)[0].similarity for t in UNRELATED]
        assert min(right) > max(unrelated)


class TestRecurringFailures:
    """The error text of a repeated failure is close to its earlier occurrence."""

    @pytest.mark.parametrize(("earlier", "later"), RECURRING)
    def test_recurring_failure_clears_glimpse_threshold(
        self, embedder: HashingEmbedder, earlier: str, later: str
    ) -> None:
        """Two messages of the same failure score at least the glimpse threshold of 0.5."""
        a, b = embedder.embed([earlier, later])
        assert float(np.dot(a, b)) >= GLIMPSE[1]
