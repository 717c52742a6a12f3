"""The entry point: parse, run, print the table, write the files."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import structlog

from ._options import parse_options
from ._report import render_table, write_files
from ._run import run_load

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("main",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m bench.load`` with ``argv``; return the exit status (1: not settled)."""
    options = parse_options(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    result = anyio.run(run_load, options)
    print(render_table(result))
    written = write_files(result)
    print(f"wrote {written.json}, {written.hlog}, {written.over_time}, {written.distribution}")
    return 0 if result.settled else 1
