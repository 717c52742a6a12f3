"""The example application: an order-processing pipeline on the actorgrid runtime.

Two topics:

- ``orders`` (durable, payload :class:`Order`): every acknowledged publish is committed to
  SQLite first, so a stop or a crash loses none. Four workers charge each order through a
  simulated payment gateway, then publish a confirmation.
- ``notifications`` (transient, payload :class:`Notification`): the confirmations, kept in
  memory only. A graceful stop still sends those that handlers in flight publish (the drain
  waits for them); a crash, or a drain that times out, loses what is still queued.

The gateway misbehaves on a fixed plan, by the order's sequence number modulo 20, so that
every path of the retry policy shows up within seconds:

====  =======================  ==================================================================
 n    what the gateway does    what the runtime does
====  =======================  ==================================================================
 2    times out once           base retry after the base window, then paid
 4    rate-limits once         the handler asks for the early retry (``RateLimited`` is a
                               ``RetryEarly``); retried after the early window, then paid
 6    rejects the API key      ``BadCredentials`` is non-retryable: straight to the dead letters
 9    (order has no items)     ``MalformedOrder`` fails every attempt: two base retries, three
                               revise retries, then the dead letters (reason ``exhausted``)
13    times out three times    two base retries, then a revise-phase attempt that is paid
====  =======================  ==================================================================

Everything else is paid on the first attempt.

The pipeline is an :class:`actorgrid.App`: :data:`app` (``examples.app:app``) is what
``make run`` serves under the daemon (``actorgrid run --config examples/actorgrid.toml``),
with a producer that publishes an order every 0.2 s and the :data:`RUNBOOKS` for the
pattern engine; ``python -m examples.demo`` runs the same topics and handlers embedded.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio
import msgspec
import structlog

from actorgrid import (
    App,
    BrokerSettings,
    RetryEarly,
    RetryPolicyConfig,
    RuntimeConfig,
    StorageSettings,
)

if TYPE_CHECKING:
    from actorgrid import DeliveryContext, Runtime

__all__ = (
    "NOTIFICATIONS",
    "ORDERS",
    "PLAN_CYCLE",
    "RUNBOOKS",
    "BadCredentials",
    "MalformedOrder",
    "Notification",
    "Order",
    "OrderProducer",
    "OrderService",
    "PaymentGateway",
    "PaymentTimeout",
    "RateLimited",
    "add_runbooks",
    "app",
    "daemon_app",
    "demo_config",
    "demo_retry_policy",
    "make_order",
    "sqlite_url",
)

log = structlog.get_logger("actorgrid.demo")

ORDERS: Final = "orders"
NOTIFICATIONS: Final = "notifications"
PLAN_CYCLE: Final = 20
"""The gateway's plan repeats every this many orders (see the module docstring)."""

Trouble = Literal["timeout", "rate_limit", "bad_credentials", "slow_gateway"]
_PLAN: Final[dict[int, Trouble]] = {
    2: "timeout",
    4: "rate_limit",
    6: "bad_credentials",
    13: "slow_gateway",
}
_MALFORMED: Final = 9
_CUSTOMERS: Final = ("ada", "grace", "edsger", "barbara", "donald", "frances", "ken", "radia")
_PRODUCTS: Final = ("keyboard", "monitor", "cable", "dock", "headset", "webcam", "chair")


# -- payloads ---------------------------------------------------------------------------------


class Order(msgspec.Struct, frozen=True):
    """An order to charge (the ``orders`` topic's payload)."""

    order_id: str
    sequence: int
    customer: str
    items: tuple[str, ...]
    amount_cents: int


class Notification(msgspec.Struct, frozen=True):
    """A confirmation for the customer (the ``notifications`` topic's payload)."""

    order_id: str
    customer: str
    text: str


def make_order(sequence: int) -> Order:
    """Build order ``o-<sequence>``; every :data:`PLAN_CYCLE`-th from 9 on has no items."""
    draw = random.Random(sequence)
    items = tuple(draw.sample(_PRODUCTS, draw.randint(1, 3)))
    if sequence % PLAN_CYCLE == _MALFORMED:
        items = ()
    return Order(
        order_id=f"o-{sequence}",
        sequence=sequence,
        customer=draw.choice(_CUSTOMERS),
        items=items,
        amount_cents=draw.randint(5, 400) * 100 - 1,
    )


# -- errors -------------------------------------------------------------------------------------


class PaymentTimeout(TimeoutError):
    """The payment gateway did not answer in time (retryable)."""

    def __init__(self, order_id: str, seconds: float) -> None:
        self.order_id = order_id
        super().__init__(f"payment gateway did not answer within {seconds:g} s for {order_id}")


class RateLimited(RetryEarly):
    """The gateway throttled us and said when to come back: ask for the early retry."""

    def __init__(self, order_id: str, retry_after: float) -> None:
        self.order_id = order_id
        super().__init__(
            f"payment gateway rate limit reached (HTTP 429) for {order_id}, "
            f"retry after {retry_after:g} s"
        )


class BadCredentials(PermissionError):
    """The gateway rejected our API key: retrying cannot help (non-retryable)."""

    def __init__(self, merchant: str) -> None:
        self.merchant = merchant
        super().__init__(
            f"payment gateway rejected the API key of merchant account {merchant!r} (HTTP 401)"
        )


class MalformedOrder(ValueError):
    """The order cannot be charged as it is: it fails on every attempt."""

    def __init__(self, order_id: str, problem: str) -> None:
        self.order_id = order_id
        self.problem = problem
        super().__init__(f"order {order_id} is malformed: {problem}")


# -- the application ------------------------------------------------------------------------------


class PaymentGateway:
    """A simulated payment gateway that misbehaves on the plan of the module docstring."""

    timeout: Final = 2.0

    async def charge(self, order: Order, attempt: int) -> str:
        """Charge ``order``; return a payment reference.

        Raises:
            PaymentTimeout, RateLimited, BadCredentials: as the plan says for this attempt.
        """
        await anyio.sleep(0.01 + (order.sequence % 5) * 0.01)  # the network round trip
        trouble = _PLAN.get(order.sequence % PLAN_CYCLE)
        if trouble == "timeout" and attempt == 1:
            raise PaymentTimeout(order.order_id, self.timeout)
        if trouble == "slow_gateway" and attempt <= 3:
            raise PaymentTimeout(order.order_id, self.timeout)
        if trouble == "rate_limit" and attempt == 1:
            raise RateLimited(order.order_id, 0.5)
        if trouble == "bad_credentials":
            raise BadCredentials("eu-legacy")
        return f"pay-{order.sequence:06d}"


@dataclass
class OrderService:
    """The handlers of both topics, and what they counted."""

    gateway: PaymentGateway = field(default_factory=PaymentGateway)
    paid: int = 0
    paid_after_retry: int = 0
    notified: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    _runtime: Runtime | None = None

    def app(self, name: str = "orders") -> App:
        """The application: both topics, their handlers (bound to this service).

        Returns:
            A new :class:`~actorgrid.App`; add hooks and tasks to it before it runs.
        """
        app = App(name)
        app.topic(ORDERS, payload_type=Order)
        app.topic(NOTIFICATIONS, payload_type=Notification, durable=False)
        app.handler(NOTIFICATIONS, self.send_notification, concurrency=1)
        app.handler(ORDERS, self.process_order, concurrency=4, non_retryable=(BadCredentials,))
        app.on_start(self._attach)
        return app

    async def install(self, rt: Runtime) -> None:
        """Install :meth:`app` on a running runtime (earlier runs' messages follow).

        Args:
            rt: the running runtime.
        """
        await self.app().install(rt)

    async def _attach(self, rt: Runtime) -> None:
        self._runtime = rt

    async def process_order(self, order: Order, ctx: DeliveryContext) -> None:
        """Validate and charge one order, then queue its confirmation (raising is a nack).

        Raises:
            MalformedOrder, PaymentTimeout, RateLimited, BadCredentials.
        """
        if ctx.attempt > 1:
            self._log_retry(order, ctx)
        try:
            if not order.items:
                raise MalformedOrder(order.order_id, "it has no line items")
            payment = await self.gateway.charge(order, ctx.attempt)
        except Exception as exc:
            self.failures[type(exc).__name__] += 1
            log.debug("order_failed", order=order.order_id, attempt=ctx.attempt, error=str(exc))
            raise
        self.paid += 1
        if ctx.attempt > 1:
            self.paid_after_retry += 1
            log.info("order_paid_after_retry", order=order.order_id, attempt=ctx.attempt)
        text = f"order {order.order_id} paid: {order.amount_cents / 100:.2f} EUR ({payment})"
        assert self._runtime is not None
        # Also while the runtime stops: a handler in flight may still publish, and the
        # drain waits for the confirmation to be sent.
        await self._runtime.publish(
            NOTIFICATIONS, Notification(order.order_id, order.customer, text)
        )

    async def send_notification(self, note: Notification, ctx: DeliveryContext) -> None:
        """Send one confirmation (simulated by a short wait)."""
        await anyio.sleep(0.002)
        self.notified += 1
        log.debug("notification_sent", order=note.order_id, customer=note.customer)

    def _log_retry(self, order: Order, ctx: DeliveryContext) -> None:
        fields: dict[str, Any] = {
            "order": order.order_id,
            "attempt": ctx.attempt,
            "phase": ctx.phase,
            "after": ctx.last_error,
        }
        if ctx.references:
            best = ctx.references[0]
            fields["reference"] = f"{best.source} (similarity {best.similarity:.2f})"
        if ctx.revision is not None and ctx.revision.suggestions:
            first = ctx.revision.suggestions[0]
            fields["suggestion"] = first if len(first) <= 100 else f"{first[:99]}…"
        log.info("early_retry" if ctx.early else "retry", **fields)


@dataclass
class OrderProducer:
    """Publishes one order every ``interval`` seconds until told to stop."""

    next_sequence: int = 1
    interval: float = 0.2
    published: int = 0

    async def run_forever(self, rt: Runtime) -> None:
        """Publish orders until cancelled (the daemon app's background task), continuing
        after the highest order number the database holds."""
        from .demo import inspect_database  # the demo imports this module

        url = rt.config.storage.url or ""
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix):
            found = inspect_database(Path(url.removeprefix(prefix)))
            if found is not None:
                self.next_sequence = max(self.next_sequence, found.last_order + 1)
        await self.run(rt, anyio.Event())

    async def run(self, rt: Runtime, stop: anyio.Event) -> None:
        """Publish orders until ``stop`` is set; an order in the middle of ``publish`` completes.

        Args:
            rt: the running runtime.
            stop: set to stop intake.
        """
        while not stop.is_set():
            order = make_order(self.next_sequence)
            await rt.publish(ORDERS, order, target=("order", order.order_id))
            self.next_sequence += 1
            self.published += 1
            with anyio.move_on_after(self.interval):
                await stop.wait()


# -- configuration ------------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    """Return the SQLAlchemy URL of the SQLite file at ``path`` (relative stays relative)."""
    text = path.as_posix()
    if not path.is_absolute() and not text.startswith("."):
        text = f"./{text}"
    return f"sqlite+aiosqlite:///{text}"


def demo_retry_policy(base_wait: float) -> RetryPolicyConfig:
    """The policy of the defaults (2 base retries, 5 at most), with windows in seconds.

    The default windows (30 minutes base, 20 minutes early) would show no retry during a
    demo; here the base window is ``base_wait`` seconds and the early one 40% of it.
    """
    return RetryPolicyConfig(
        base_wait_minutes=base_wait / 60,
        base_retries=2,
        early_wait_minutes=base_wait * 0.4 / 60,
        max_retries=5,
    )


def demo_config(db: Path, *, base_wait: float) -> RuntimeConfig:
    """The runtime settings of the demo: SQLite at ``db`` and short retry windows."""
    return RuntimeConfig(
        storage=StorageSettings(url=sqlite_url(db)),
        retry=demo_retry_policy(base_wait),
        broker=BrokerSettings(drain_timeout=5.0),
    )


# -- reference context ----------------------------------------------------------------------------

RUNBOOKS: Final[tuple[tuple[str, str], ...]] = (
    (
        "runbook/payment-gateway-timeout",
        "payment gateway did not answer within the timeout: the gateway is slow or degraded. "
        "Retry after a short wait; if timeouts repeat, check the gateway status page and "
        "raise the client timeout for large orders.",
    ),
    (
        "runbook/payment-gateway-rate-limit",
        "payment gateway rate limit reached (HTTP 429): back off and retry after the time the "
        "gateway names in Retry-After; spread bursts of orders over a longer period.",
    ),
    (
        "runbook/malformed-order",
        "order is malformed, it has no line items: the shop front end sent an empty cart. "
        "Retrying cannot fix it; fix the order and replay its dead letter.",
    ),
    (
        "runbook/payment-credentials",
        "payment gateway rejected the API key of a merchant account (HTTP 401): rotate the "
        "key in the secrets store, then replay the dead letters of that merchant.",
    ),
)
"""Reference text for the pattern engine, when the runtime has one."""


async def add_runbooks(rt: Runtime) -> int | None:
    """Give the pattern engine the :data:`RUNBOOKS`, so retries carry reference context.

    Returns:
        How many chunks were added, or ``None`` when this runtime has no pattern engine API.
    """
    add = getattr(rt, "add_chunks", None)
    if add is None:
        return None
    try:
        ids = await add([(source, text, {"kind": "runbook"}) for source, text in RUNBOOKS])
    except Exception as exc:  # optional context: the pipeline runs without it
        log.warning("runbooks_not_added", error=repr(exc))
        return None
    return len(ids)


# -- the daemon's application ---------------------------------------------------------------------


def daemon_app(*, interval: float = 0.2) -> App:
    """The order pipeline with its producer and runbooks, as ``actorgrid run`` serves it.

    Args:
        interval: seconds between two orders of the producer.
    """
    service = OrderService()
    pipeline = service.app()
    pipeline.on_start(add_runbooks)
    pipeline.background(OrderProducer(interval=interval).run_forever)
    return pipeline


app: Final = daemon_app()
"""``examples.app:app``: the application ``make run`` serves."""
