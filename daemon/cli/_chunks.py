"""``actorgrid chunks``: reference chunks (add one or thousands, search, delete)."""

from __future__ import annotations

import json
import sys
from pathlib import Path  # noqa: TC003 - cyclopts reads annotations
from typing import TYPE_CHECKING, Annotated, Any

import cyclopts
from cyclopts import Parameter

from actorgrid.daemon import DaemonError

from ._command import call_daemon
from ._errors import UsageProblem, report
from ._input import read_json_lines
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations
from ._output import Column, progress_bar, short

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("chunks",)

chunks = cyclopts.App(
    name="chunks",
    help="Reference chunks: add, search, delete.",
    help_format="plaintext",
)

_COLUMNS = (
    Column("id", "chunk_id", no_wrap=True),
    Column("similarity", "similarity", lambda v: f"{v:.3f}" if isinstance(v, float) else ""),
    Column("source", "source"),
    Column("text", "text", short(80)),
)


def _metadata(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"--metadata is not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise UsageProblem("--metadata must be a JSON object")
    return value


def _from_file(file: Path, source: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for number, value in read_json_lines(file):
        if isinstance(value, str):
            value = {"text": value}
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            raise UsageProblem(
                f'{file} line {number} is not a chunk {{"text", "source", "metadata"}} '
                "or a JSON string"
            )
        value.setdefault("source", source)
        if value["source"] is None:
            raise UsageProblem(f"{file} line {number} has no source: give --source")
        found.append(value)
    if not found:
        raise UsageProblem(f"{file} holds no chunks")
    return found


@chunks.command
def add(
    text: str | None = None,
    /,
    *,
    source: str | None = None,
    metadata: str | None = None,
    file: Annotated[
        Path | None, Parameter(name=("--file", "-f"), allow_leading_hyphen=True)
    ] = None,
    batch_size: int = 500,
    options: ClientOptions | None = None,
) -> int:
    """Add reference chunks: one given as TEXT, or thousands from a JSON-lines file in
    batches with a progress bar.

    Each line of the file is {"text": ..., "source": ..., "metadata": {...}} or a JSON
    string (with --source); `--file -` reads stdin. Each batch is stored and indexed in one
    transaction. The new chunks' ids are printed with --json.

    Args:
        text: the chunk's text.
        source: where it comes from (runbook, a document's name); the default of the file's lines.
        metadata: a JSON object kept with the chunk.
        file: a JSON-lines file of chunks (`-`: stdin).
        batch_size: chunks per request (at most the daemon's [daemon] max_batch).
    """

    def one(client: DaemonClient, out: Output) -> None:
        if source is None:
            raise UsageProblem("give the chunk's --source (e.g. runbook)")
        chunk = {"text": text, "source": source, "metadata": _metadata(metadata)}
        answer = client.post("/v1/chunks", {"chunks": [chunk]})
        out.result(answer, lambda: out.line(f"added chunk {answer['ids'][0]}"))

    def many(client: DaemonClient, out: Output) -> None:
        assert file is not None
        if batch_size < 1:
            raise UsageProblem("--batch-size must be at least 1")
        extra = _metadata(metadata)
        found = _from_file(file, source)
        for chunk in found:
            chunk["metadata"] = extra | chunk.get("metadata", {})
        ids: list[int] = []
        with progress_bar() as bar:
            task = bar.add_task("add chunks", total=len(found))
            for start in range(0, len(found), batch_size):
                batch = found[start : start + batch_size]
                try:
                    answer = client.post("/v1/chunks", {"chunks": batch})
                except DaemonError:
                    if ids:
                        print(
                            f"actorgrid: {len(ids)} of {len(found)} chunks were added "
                            "before the error",
                            file=sys.stderr,
                        )
                    raise
                ids.extend(answer["ids"])
                bar.advance(task, len(batch))
        out.result({"ids": ids}, lambda: out.line(f"added {len(ids)} chunks"))

    if (text is None) == (file is None):
        return report(UsageProblem("give the chunk's TEXT or --file, not both or neither"))
    return call_daemon(options, one if file is None else many)


@chunks.command
def search(
    query: str,
    /,
    *,
    k: int = 3,
    min_similarity: float = 0.0,
    source: str | None = None,
    options: ClientOptions | None = None,
) -> int:
    """Search the reference chunks: the K most similar to QUERY, most similar first.

    Args:
        query: the text to search for.
        k: how many (1 to 100).
        min_similarity: only chunks at least this similar (-1 to 1).
        source: only chunks of this source.
    """

    def run(client: DaemonClient, out: Output) -> None:
        answer = client.get(
            "/v1/chunks/search", q=query, k=k, min_similarity=min_similarity, source=source
        )
        out.result(answer, lambda: out.table(answer["items"], _COLUMNS, empty="no chunk matches"))

    return call_daemon(options, run)


@chunks.command
def delete(chunk_id: int, /, *, options: ClientOptions | None = None) -> int:
    """Delete one reference chunk.

    Args:
        chunk_id: the chunk's id (from `actorgrid chunks search`).
    """

    def run(client: DaemonClient, out: Output) -> None:
        client.delete(f"/v1/chunks/{chunk_id}")
        out.result({"deleted": chunk_id}, lambda: out.line(f"deleted chunk {chunk_id}"))

    return call_daemon(options, run)
