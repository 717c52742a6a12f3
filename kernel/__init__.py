"""actorgrid's kernel: actors, refs, mailboxes, supervision, messages and codec, clock, config."""

from __future__ import annotations

from ._clock import Clock as Clock
from ._clock import FakeClock as FakeClock
from ._clock import SystemClock as SystemClock
