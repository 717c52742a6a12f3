"""The CLI's HTTP client of the daemon's API (httpx), and where the daemon and its token are.

The address comes from the same configuration as ``actorgrid run`` (``--config``, then
``ACTORGRID_DAEMON__HOST`` / ``ACTORGRID_DAEMON__PORT``...), unless ``--url`` gives it. The
token is ``[daemon] token`` when configured, else the token file the daemon created beside
its database (``<database>.token``). Every error answer becomes a :class:`RequestRefused`
whose message says what to do, a connection refused a :class:`DaemonUnreachable`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from actorgrid import ConfigError
from actorgrid.daemon import DaemonFiles, load_daemon_config, read_token

from ._errors import DaemonUnreachable, RequestRefused, UsageProblem

if TYPE_CHECKING:
    from pathlib import Path

    from actorgrid.daemon import DaemonConfig

__all__ = ("DaemonClient", "Endpoint", "locate")

_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the daemon answers and the token to send it."""

    url: str
    token: str | None
    token_source: str
    """Where the token came from, or where it was looked for (for error messages)."""


def _url_of(config: DaemonConfig) -> str:
    host = _ANY_ADDRESS.get(config.daemon.host, config.daemon.host)
    port = config.daemon.port
    if port == 0:
        raise UsageProblem(
            "[daemon] port is 0 (any free port), so the daemon's address is not known here: "
            "give it with --url (the daemon's api_listening event names it)"
        )
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"http://{host}:{port}"


def locate(config: Path | None, url: str | None) -> Endpoint:
    """The daemon's address and token, from ``--config`` (and the environment) and ``--url``.

    Raises:
        ConfigError: the configuration cannot be read.
        UsageProblem: the address cannot be derived (``port = 0``) and ``--url`` is not given.
    """
    settings = load_daemon_config(config)
    address = url.rstrip("/") if url else _url_of(settings)
    if settings.daemon.token is not None:
        return Endpoint(address, settings.daemon.token, "[daemon] token")
    try:
        files = DaemonFiles.beside(settings.storage.url)
    except ConfigError:
        return Endpoint(address, None, "no [daemon] token, and no database file to look beside")
    try:
        token = read_token(files.token)
    except OSError as exc:
        return Endpoint(address, None, f"the token file {files.token} ({exc.strerror})")
    return Endpoint(address, token, f"the token file {files.token}")


def _refused(response: httpx.Response, endpoint: Endpoint) -> RequestRefused:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error, detail = body["error"], str(body.get("detail", ""))
    elif isinstance(body, dict) and "detail" in body:  # an answer of the framework itself
        error = "not_found" if response.status_code == 404 else "http_error"
        detail = str(body["detail"])
    else:
        error, detail = "http_error", response.text.strip()[:200] or response.reason_phrase
    hint = None
    if response.status_code == 401:
        if endpoint.token is None:
            hint = (
                f"no token found ({endpoint.token_source}): the daemon creates its token "
                "file at its first start; give --config of the daemon, or set [daemon] token "
                "(ACTORGRID_DAEMON__TOKEN)"
            )
        else:
            hint = (
                f"the token sent is from {endpoint.token_source}: use the daemon's own "
                "(its --config, its database's token file, or ACTORGRID_DAEMON__TOKEN)"
            )
    elif response.status_code == 404 and error == "not_found":
        path = response.request.url.path
        hint = f"{endpoint.url} does not serve {path}: is it an actorgrid daemon of this version?"
    return RequestRefused(response.status_code, error, detail, hint)


class DaemonClient:
    """A synchronous client of one daemon's API; use it as a context manager.

    Args:
        endpoint: the address and token.
        timeout: seconds to wait for any answer.
    """

    def __init__(self, endpoint: Endpoint, *, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        headers = {"Accept": "application/json"}
        if endpoint.token is not None:
            headers["Authorization"] = f"Bearer {endpoint.token}"
        self._timeout = timeout
        self._http = httpx.Client(base_url=endpoint.url, headers=headers, timeout=timeout)

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request; return its decoded JSON body (None for an empty one).

        Raises:
            DaemonUnreachable: nothing answers at the address, or not in time.
            RequestRefused: the daemon answered with an error.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=query or None, json=json)
        except httpx.ConnectError as exc:
            raise DaemonUnreachable(self.endpoint.url, _connect_problem(exc)) from None
        except httpx.TimeoutException:
            raise DaemonUnreachable(
                self.endpoint.url, f"no answer within {self._timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise DaemonUnreachable(self.endpoint.url, str(exc) or type(exc).__name__) from None
        if response.status_code >= 400:
            raise _refused(response, self.endpoint)
        if not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        """``GET path?params`` (None values are left out)."""
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None) -> Any:
        """``POST path`` with a JSON body."""
        return self.request("POST", path, json=json if json is not None else {})

    def delete(self, path: str) -> Any:
        """``DELETE path``."""
        return self.request("DELETE", path)


def _connect_problem(exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    return text or "cannot connect"
