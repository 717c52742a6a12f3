"""The payloads of a run: :class:`LoadPayload` with the run's injections, or the user's own."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from ._app import LoadPayload
from ._targets import load_object

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._options import LoadOptions

__all__ = ("PayloadMaker",)


class PayloadMaker:
    """Build message ``seq``'s payload: ``maker(seq)``.

    With ``options.payload`` (``package.module:function``) the function builds it from the
    sequence number; otherwise it is a :class:`LoadPayload` padded to the payload sizes in
    turn, failing once with probability ``fail_rate`` (seeded), stalling when it is the
    ``stall_at``-th.
    """

    def __init__(self, options: LoadOptions) -> None:
        self._factory: Callable[[int], Any] | None = (
            load_object(options.payload) if options.payload else None
        )
        self._options = options
        self._random = random.Random(options.seed)
        self.failing = 0
        """Load payloads built with ``fail`` set."""

    def __call__(self, seq: int) -> Any:
        if self._factory is not None:
            return self._factory(seq)
        o = self._options
        fail = o.fail_rate > 0 and self._random.random() < o.fail_rate
        self.failing += fail
        sizes = o.payload_bytes
        return LoadPayload(
            seq,
            fail=fail,
            work_ms=o.work_ms,
            stall_ms=o.stall_ms if seq == o.stall_at else 0.0,
            pad="x" * sizes[seq % len(sizes)],
        )
