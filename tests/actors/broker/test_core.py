"""Unit tests of the broker core's helpers (actors/_broker_core.py, actors/_delivery.py)."""

from __future__ import annotations

import re
import traceback

from actorgrid.actors._delivery import new_message_id
from actorgrid.actors.broker._core import format_traceback


def _raise_chain() -> BaseException:
    try:
        try:
            empty: dict[str, int] = {}
            empty["missing"]
        except KeyError as inner:
            raise ValueError("bad value") from inner
    except ValueError:
        try:
            1 / 0  # noqa: B018 - raises on purpose
        except ZeroDivisionError as exc:
            return exc
    raise AssertionError("unreachable")


class TestFormatTraceback:
    def test_matches_the_standard_format_without_carets(self) -> None:
        """The chain, the separators and every frame are as traceback prints them."""
        exc = _raise_chain()
        standard = "".join(traceback.format_exception(exc))
        without_carets = "".join(
            line
            for line in standard.splitlines(keepends=True)
            if not re.fullmatch(r"\s*[\^~]+\s*", line)
        )
        assert format_traceback(exc) == without_carets
        assert "direct cause" in without_carets
        assert "During handling" in without_carets

    def test_exception_never_raised(self) -> None:
        """An exception without a traceback formats as its last line only."""
        assert format_traceback(RuntimeError("x")) == "RuntimeError: x\n"


class TestMessageIds:
    def test_ids_are_unique_ordered_and_32_hex_digits(self) -> None:
        """Ids from one process share a prefix and increase, so inserts stay local."""
        ids = [new_message_id() for _ in range(1000)]
        assert len(set(ids)) == 1000
        assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
        assert ids == sorted(ids)
