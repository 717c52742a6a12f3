"""The API's listening socket and the uvicorn server that serves it in the daemon's loop."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from typing import TYPE_CHECKING

import uvicorn

from ._errors import BindRefused

if TYPE_CHECKING:
    from collections.abc import Iterator

    import litestar

__all__ = ("ApiServer", "bind_socket", "is_loopback")


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses
    )


def bind_socket(host: str, port: int, *, token_configured: bool) -> socket.socket:
    """Bind the API's socket (the daemon binds it itself, so a failure is its own clear error).

    Raises:
        BindRefused: a non-loopback address without a configured token, an unknown host, or
            the address cannot be bound (in use, not ours).
    """
    if not is_loopback(host) and not token_configured:
        raise BindRefused(
            host,
            port,
            "it is not a loopback address and no token is configured; set [daemon] token "
            "(or ACTORGRID_DAEMON__TOKEN), or bind 127.0.0.1",
        )
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise BindRefused(host, port, f"unknown host ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise BindRefused(host, port, f"{exc.strerror}; choose another --port") from None
    sock.set_inheritable(False)
    return sock


class ApiServer(uvicorn.Server):
    """uvicorn's server, run inside the daemon's event loop; the daemon owns the signals."""

    def __init__(self, api: litestar.Litestar, *, graceful_timeout: float) -> None:
        super().__init__(
            uvicorn.Config(
                api,
                log_config=None,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=max(1, int(graceful_timeout)),
            )
        )

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: the daemon stops the server itself after the runtime stopped."""
        yield
