"""``python -m bench.load``: drive an actorgrid app or daemon with load and measure it.

See :mod:`._run` for the load models and :mod:`._recorder` for what the latencies mean.
"""

from __future__ import annotations

from ._app import LOAD_TOPIC, InjectedFailure, LoadPayload, load_app
from ._histogram import LatencyHistogram, Summary
from ._main import main
from ._options import LoadOptions, parse_options
from ._recorder import Recorder, instrument
from ._report import Written, render_table, to_json, write_files
from ._run import LoadResult, run_load

__all__ = (
    "LOAD_TOPIC",
    "InjectedFailure",
    "LatencyHistogram",
    "LoadOptions",
    "LoadPayload",
    "LoadResult",
    "Recorder",
    "Summary",
    "Written",
    "instrument",
    "load_app",
    "main",
    "parse_options",
    "render_table",
    "run_load",
    "to_json",
    "write_files",
)
