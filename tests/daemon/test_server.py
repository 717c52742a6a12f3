"""The API's socket (daemon/_server.py): loopback only unless a token is configured."""

from __future__ import annotations

import pytest

from actorgrid.daemon import BindRefused
from actorgrid.daemon._server import bind_socket, is_loopback


class TestBind:
    @pytest.mark.parametrize(
        ("host", "loopback"),
        [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("0.0.0.0", False)],
    )
    def test_loopback_addresses(self, host: str, loopback: bool) -> None:
        """127.0.0.0/8 and localhost are loopback; the wildcard is not."""
        assert is_loopback(host) is loopback

    def test_a_public_address_needs_a_token(self) -> None:
        """Without a configured token the wildcard address is refused before binding."""
        with pytest.raises(BindRefused, match="no token is configured"):
            bind_socket("0.0.0.0", 0, token_configured=False)

    def test_a_port_in_use_is_a_clear_error(self) -> None:
        """Binding a port another socket listens on says so."""
        first = bind_socket("127.0.0.1", 0, token_configured=False)
        first.listen()
        try:
            port = first.getsockname()[1]
            with pytest.raises(BindRefused, match="choose another --port"):
                bind_socket("127.0.0.1", port, token_configured=False)
        finally:
            first.close()
