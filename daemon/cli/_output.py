"""What the operator commands print: rich tables for people, JSON for scripts, progress bars.

Tables and JSON go to stdout; progress bars and spinners to stderr, so ``--json`` output
stays one JSON document however long the operation.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

__all__ = (
    "Column",
    "Output",
    "flatten",
    "progress_bar",
    "relative",
    "short",
    "target_text",
    "when",
)


_PIPE_WIDTH = 200
"""Columns of a table printed to a pipe or a file (rows stay on one line for grep)."""


def relative(epoch: object) -> str:
    """How far an epoch-seconds time is from now: ``in 10m``, ``16s ago``."""
    if not isinstance(epoch, int | float) or isinstance(epoch, bool):
        return "" if epoch is None else str(epoch)
    delta = epoch - time.time()
    span = abs(delta)
    if span < 60:
        amount = f"{span:.0f}s"
    elif span < 3600:
        amount = f"{span / 60:.0f}m"
    elif span < 86400:
        amount = f"{span / 3600:.1f}h"
    else:
        amount = f"{span / 86400:.1f}d"
    return f"in {amount}" if delta > 0 else f"{amount} ago"


def when(epoch: object) -> str:
    """An epoch-seconds time as local ``YYYY-MM-DD HH:MM:SS`` with how far from now."""
    if not isinstance(epoch, int | float) or isinstance(epoch, bool):
        return "" if epoch is None else str(epoch)
    stamp = datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} ({relative(epoch)})"


def short(limit: int) -> Callable[[object], str]:
    """A formatter that cuts text to ``limit`` characters."""

    def cut(value: object) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    return cut


def target_text(item: Mapping[str, Any]) -> str:
    """``type:id`` of an item's target."""
    return f"{item.get('target_type')}:{item.get('target_id')}"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header, the item's key, and how to show the value."""

    header: str
    key: str
    show: Callable[[object], str] = _text
    no_wrap: bool = False
    """Keep the value on one line (ids, which must stay copyable)."""


def flatten(value: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as ``(dotted.key, value)`` pairs, in order."""
    pairs: list[tuple[str, Any]] = []
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            pairs.extend(flatten(item, f"{name}."))
        else:
            pairs.append((name, item))
    return pairs


class Output:
    """Prints a command's result, as tables or (``as_json``) as the API's JSON.

    Args:
        as_json: print JSON documents only.
    """

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        # Made per command so that it writes to the sys.stdout of the moment (tests capture it).
        self.console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
        if not self.console.is_terminal:
            self.console.width = _PIPE_WIDTH

    def json(self, data: object) -> None:
        """Print ``data`` as one JSON document."""
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def result(self, data: object, people: Callable[[], None]) -> None:
        """Print ``data`` as JSON with ``--json``, else call ``people`` to print it."""
        if self.as_json:
            self.json(data)
        else:
            people()

    def line(self, text: str) -> None:
        """Print a line for people (markup off)."""
        self.console.print(text, markup=False)

    def next_page(self, answer: Mapping[str, Any]) -> None:
        """Say how to get the next page of a listing, when there is one."""
        if answer.get("next"):
            self.line(f"more: add --cursor {answer['next']}")

    def table(
        self,
        items: Sequence[Mapping[str, Any]],
        columns: Sequence[Column],
        *,
        title: str | None = None,
        empty: str = "nothing",
    ) -> None:
        """Print ``items`` as a table of ``columns`` (or ``empty`` when there are none)."""
        if not items:
            self.line(empty)
            return
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in columns:
            table.add_column(column.header, no_wrap=column.no_wrap, overflow="fold")
        for item in items:
            table.add_row(*(column.show(item.get(column.key)) for column in columns))
        self.console.print(table)

    def record(
        self,
        value: Mapping[str, Any],
        *,
        title: str | None = None,
        times: Iterable[str] = (),
        long: Iterable[str] = (),
    ) -> None:
        """Print one object as a two-column table of its (flattened) fields.

        Args:
            value: the object.
            title: printed above it.
            times: dotted keys holding epoch seconds (shown as local times).
            long: dotted keys whose text is printed below the table as it is (tracebacks).
        """
        time_keys, long_keys = set(times), set(long)
        table = Table(title=title, title_justify="left", show_header=False)
        table.add_column("field", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        below: list[tuple[str, str]] = []
        for key, item in flatten(value):
            if key in long_keys and isinstance(item, str) and item:
                below.append((key, item))
            elif key in time_keys:
                table.add_row(key, when(item))
            else:
                table.add_row(key, _text(item))
        self.console.print(table)
        for key, text in below:
            self.line(f"{key}:")
            self.line(text.rstrip())


def progress_bar() -> Progress:
    """A progress bar on stderr; each task shows ``description ━━━━ 123/1000 12% 0:00:03``."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )
