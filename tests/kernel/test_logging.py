"""Tests for configure_logging / reset_logging: renderers, levels, stdlib routing, reset."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import structlog
from structlog.testing import capture_logs

from actorgrid.kernel import ConfigError, configure_logging, reset_logging

if TYPE_CHECKING:
    from collections.abc import Iterator


class TTYStream(io.StringIO):
    """A StringIO that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _reset_after() -> Iterator[None]:
    yield
    reset_logging()
    structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def ours(root: logging.Logger) -> list[logging.Handler]:
    return [
        h for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    ]


class TestJsonLines:
    def test_every_line_is_json_with_level_and_utc_timestamp(self) -> None:
        """JSON mode writes one object per event with event, level and an ISO UTC timestamp."""
        out = io.StringIO()
        configure_logging("info", json=True, stream=out, cache_logger_on_first_use=False)
        structlog.get_logger().info("started", actor="broker", count=3)
        (event,) = lines(out)
        assert event["event"] == "started"
        assert event["level"] == "info"
        assert event["actor"] == "broker"
        assert event["count"] == 3
        stamp = datetime.fromisoformat(str(event["timestamp"]))
        assert stamp.utcoffset() == timedelta(0)

    def test_levels_below_the_threshold_are_dropped(self) -> None:
        """Events below the configured level are not written."""
        out = io.StringIO()
        configure_logging("warning", json=True, stream=out, cache_logger_on_first_use=False)
        log = structlog.get_logger()
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        assert [e["event"] for e in lines(out)] == ["w", "e"]

    def test_level_name_is_case_insensitive(self) -> None:
        """'DEBUG' is accepted and lets debug events through."""
        out = io.StringIO()
        configure_logging("DEBUG", json=True, stream=out, cache_logger_on_first_use=False)
        structlog.get_logger().debug("fine detail")
        assert [e["event"] for e in lines(out)] == ["fine detail"]

    def test_exception_is_rendered_as_text(self) -> None:
        """log.exception attaches the formatted traceback under 'exception'."""
        out = io.StringIO()
        configure_logging(json=True, stream=out, cache_logger_on_first_use=False)
        try:
            raise ZeroDivisionError("nope")
        except ZeroDivisionError:
            structlog.get_logger().exception("handler failed")
        (event,) = lines(out)
        assert event["level"] == "error"
        assert "ZeroDivisionError: nope" in str(event["exception"])

    def test_unserializable_values_fall_back_to_repr(self) -> None:
        """A value JSON cannot hold is written as its repr, not dropped or crashing."""
        out = io.StringIO()
        configure_logging(json=True, stream=out, cache_logger_on_first_use=False)

        class Opaque:
            def __repr__(self) -> str:
                return "<opaque>"

        structlog.get_logger().info("odd", value=Opaque())
        assert lines(out)[0]["value"] == "<opaque>"

    def test_context_variables_are_merged(self) -> None:
        """Values bound with structlog.contextvars appear in every event."""
        out = io.StringIO()
        configure_logging(json=True, stream=out, cache_logger_on_first_use=False)
        structlog.contextvars.bind_contextvars(trace_id="t-1")
        structlog.get_logger().info("x")
        assert lines(out)[0]["trace_id"] == "t-1"

    def test_default_stream_is_stderr(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a stream, events go to sys.stderr (stdout stays free for program output)."""
        configure_logging(json=True, cache_logger_on_first_use=False)
        structlog.get_logger().info("to stderr")
        captured = capsys.readouterr()
        assert captured.out == ""
        assert json.loads(captured.err.splitlines()[-1])["event"] == "to stderr"


class TestRendererChoice:
    def test_non_tty_defaults_to_json(self) -> None:
        """json=None on a stream that is not a terminal writes JSON lines."""
        out = io.StringIO()
        configure_logging(stream=out, cache_logger_on_first_use=False)
        structlog.get_logger().info("auto")
        assert lines(out)[0]["event"] == "auto"

    def test_tty_defaults_to_console(self) -> None:
        """json=None on a terminal uses the console renderer."""
        out = TTYStream()
        configure_logging(stream=out, cache_logger_on_first_use=False)
        structlog.get_logger().info("auto", actor="gate")
        text = out.getvalue()
        assert "auto" in text
        assert not text.lstrip().startswith("{")

    def test_console_renderer_without_colors_off_a_tty(self) -> None:
        """json=False on a plain stream renders readable text without ANSI escapes."""
        out = io.StringIO()
        configure_logging(json=False, stream=out, cache_logger_on_first_use=False)
        structlog.get_logger().info("ready", actor="gate")
        text = out.getvalue()
        assert "ready" in text
        assert "actor=gate" in text
        assert "[info" in text
        assert "\x1b[" not in text

    def test_console_renders_exceptions(self) -> None:
        """The console renderer prints the traceback of log.exception."""
        out = io.StringIO()
        configure_logging(json=False, stream=out, cache_logger_on_first_use=False)
        try:
            raise KeyError("missing")
        except KeyError:
            structlog.get_logger().exception("failed")
        assert "KeyError" in out.getvalue()


class TestStdlibRouting:
    def test_library_warnings_use_the_same_output(self) -> None:
        """A stdlib warning (e.g. from SQLAlchemy) is written as a JSON line with its logger."""
        out = io.StringIO()
        configure_logging(json=True, stream=out, cache_logger_on_first_use=False)
        logging.getLogger("sqlalchemy.engine").warning("pool %s exhausted", "main")
        (event,) = lines(out)
        assert event["event"] == "pool main exhausted"
        assert event["level"] == "warning"
        assert event["logger"] == "sqlalchemy.engine"
        assert "timestamp" in event

    def test_library_info_is_dropped(self) -> None:
        """stdlib records below WARNING are dropped even when structlog runs at debug."""
        out = io.StringIO()
        configure_logging("debug", json=True, stream=out, cache_logger_on_first_use=False)
        logging.getLogger("alembic.runtime.migration").info("Running upgrade")
        logging.getLogger("aiosqlite").debug("executing")
        assert out.getvalue() == ""

    def test_library_threshold_follows_a_higher_level(self) -> None:
        """At level 'error', stdlib warnings are dropped too."""
        out = io.StringIO()
        configure_logging("error", json=True, stream=out, cache_logger_on_first_use=False)
        logging.getLogger("sqlalchemy").warning("ignored")
        logging.getLogger("sqlalchemy").error("kept")
        assert [e["event"] for e in lines(out)] == ["kept"]

    def test_threshold_holds_for_loggers_with_their_own_level(self) -> None:
        """A library logger that set its own level (SQLAlchemy sets WARN) still obeys it."""
        library = logging.getLogger("actorgrid_test.library")
        before = library.level
        library.setLevel(logging.DEBUG)
        try:
            out = io.StringIO()
            configure_logging("error", json=True, stream=out, cache_logger_on_first_use=False)
            library.info("dropped")
            library.warning("dropped too")
            library.error("kept")
        finally:
            library.setLevel(before)
        assert [e["event"] for e in lines(out)] == ["kept"]

    def test_reconfiguring_does_not_duplicate_output(self) -> None:
        """Configuring twice leaves one handler: each record is written once, to the new stream."""
        first, second = io.StringIO(), io.StringIO()
        configure_logging(json=True, stream=first, cache_logger_on_first_use=False)
        configure_logging(json=True, stream=second, cache_logger_on_first_use=False)
        logging.getLogger("alembic").warning("once")
        structlog.get_logger().info("also once")
        assert first.getvalue() == ""
        assert [e["event"] for e in lines(second)] == ["once", "also once"]
        assert len(ours(logging.getLogger())) == 1


class TestConfiguration:
    @pytest.mark.parametrize("level", ["verbose", "", "warn ", "notset"])
    def test_invalid_level_raises_and_changes_nothing(self, level: str) -> None:
        """An unknown level raises ConfigError naming the field, and configures nothing."""
        with pytest.raises(ConfigError) as info:
            configure_logging(level, stream=io.StringIO())
        assert info.value.field == "level"
        assert repr(level) in info.value.problem
        assert not structlog.is_configured()
        assert ours(logging.getLogger()) == []

    @pytest.mark.parametrize("cache", [True, False])
    def test_cache_flag_is_passed_through(self, cache: bool) -> None:
        """cache_logger_on_first_use is on for entry points and off when tests ask."""
        configure_logging(stream=io.StringIO(), cache_logger_on_first_use=cache)
        assert structlog.get_config()["cache_logger_on_first_use"] is cache

    def test_capture_logs_sees_events(self) -> None:
        """structlog.testing.capture_logs returns events as dicts while configured."""
        configure_logging(stream=io.StringIO(), cache_logger_on_first_use=False)
        with capture_logs() as captured:
            structlog.get_logger().warning("dead letter", actor="a", message_type="Ping")
        assert captured == [
            {"event": "dead letter", "actor": "a", "message_type": "Ping", "log_level": "warning"}
        ]


class TestReset:
    def test_reset_restores_defaults_and_stdlib(self) -> None:
        """reset_logging removes the root handler, restores its level and structlog defaults."""
        root = logging.getLogger()
        before_level = root.level
        before_handlers = list(root.handlers)
        configure_logging("error", stream=io.StringIO(), cache_logger_on_first_use=False)
        assert structlog.is_configured()
        reset_logging()
        assert not structlog.is_configured()
        assert root.level == before_level
        assert root.handlers == before_handlers

    def test_reset_without_configure_is_harmless(self) -> None:
        """reset_logging may be called when nothing was configured."""
        root = logging.getLogger()
        before = (root.level, list(root.handlers))
        reset_logging()
        assert (root.level, list(root.handlers)) == before

    def test_output_stops_after_reset(self) -> None:
        """After reset, nothing more reaches the old stream."""
        out = io.StringIO()
        configure_logging(json=True, stream=out, cache_logger_on_first_use=False)
        reset_logging()
        logging.getLogger("sqlalchemy").warning("after")
        assert out.getvalue() == ""
