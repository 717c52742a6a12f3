"""``actorgrid publish``: one message, or many from a file or stdin in batches."""

from __future__ import annotations

import json
import sys
from pathlib import Path  # noqa: TC003 - cyclopts reads annotations
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from cyclopts import Parameter

from actorgrid.daemon import DaemonError

from ._command import call_daemon
from ._errors import UsageProblem, report
from ._input import read_json_lines
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations
from ._output import progress_bar

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("publish",)


def _target(text: str | None) -> list[str] | None:
    if text is None:
        return None
    kind, sep, key = text.partition(":")
    if not sep or not kind or not key:
        raise UsageProblem(f"--target must be TYPE:ID (e.g. order:o-17), got {text!r}")
    return [kind, key]


def _headers(pairs: list[str] | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageProblem(f"--header must be NAME=VALUE, got {pair!r}")
        headers[name] = value
    return headers


def _messages(
    file: Path, payloads: bool, target: list[str] | None, headers: dict[str, str]
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for number, value in read_json_lines(file):
        if payloads:
            messages.append({"payload": value, "target": target, "headers": headers})
            continue
        if not isinstance(value, dict) or "payload" not in value:
            raise UsageProblem(
                f"{file} line {number} is not a message "
                '{"payload": ..., "target": [type, id], "headers": {...}}; '
                "give --payloads if each line is a bare payload"
            )
        messages.append(value)
    if not messages:
        raise UsageProblem(f"{file} holds no messages")
    return messages


def publish(
    topic: str,
    payload: str | None = None,
    /,
    *,
    file: Annotated[
        Path | None, Parameter(name=("--file", "-f"), allow_leading_hyphen=True)
    ] = None,
    payloads: bool = False,
    target: str | None = None,
    header: Annotated[list[str] | None, Parameter(negative="")] = None,
    batch_size: int = 500,
    options: ClientOptions | None = None,
) -> int:
    """Publish a message to TOPIC, or many in batches from a JSON-lines file or stdin.

    One message: `actorgrid publish orders '{"order_id": "o-1"}' --target order:o-1`.
    Many: `actorgrid publish orders --file messages.jsonl` (`--file -` reads stdin); each
    line is a message as the API takes it, {"payload": ..., "target": [type, id],
    "headers": {...}}, or with --payloads a bare payload. Each batch is one transaction;
    a progress bar follows them. The ids are printed with --json.

    Args:
        topic: the topic (one the daemon's app declares).
        payload: the message's payload as JSON.
        file: a JSON-lines file of messages (`-`: stdin), published in batches.
        payloads: the file's lines are bare payloads (with --target and --header applied).
        target: TYPE:ID whose retry record its failures count against (default: the message).
        header: NAME=VALUE, a header of the message (repeatable).
        batch_size: messages per batch request (at most the daemon's [daemon] max_batch).
    """
    path = f"/v1/topics/{quote(topic, safe='')}/messages"

    def one(client: DaemonClient, out: Output) -> None:
        try:
            value = json.loads(payload or "")
        except json.JSONDecodeError as exc:
            raise UsageProblem(f"the payload is not JSON: {exc.msg}") from None
        body = {"payload": value, "target": _target(target), "headers": _headers(header)}
        answer = client.post(path, body)
        out.result(answer, lambda: out.line(f"published {answer['id']} to {topic}"))

    def many(client: DaemonClient, out: Output) -> None:
        assert file is not None
        if batch_size < 1:
            raise UsageProblem("--batch-size must be at least 1")
        messages = _messages(file, payloads, _target(target), _headers(header))
        ids: list[str] = []
        with progress_bar() as bar:
            task = bar.add_task(f"publish to {topic}", total=len(messages))
            for start in range(0, len(messages), batch_size):
                batch = messages[start : start + batch_size]
                try:
                    answer = client.post(f"{path}/batch", {"messages": batch})
                except DaemonError:
                    if ids:
                        print(
                            f"actorgrid: {len(ids)} of {len(messages)} messages were "
                            f"published (lines before the batch at message {start + 1})",
                            file=sys.stderr,
                        )
                    raise
                ids.extend(answer["ids"])
                bar.advance(task, len(batch))
        out.result({"ids": ids}, lambda: out.line(f"published {len(ids)} messages to {topic}"))

    if (payload is None) == (file is None):
        return report(UsageProblem("give a payload or --file, not both or neither"))
    return call_daemon(options, one if file is None else many)
