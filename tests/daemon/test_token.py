"""The API token (daemon/_token.py): configured, or created owner-only and reused."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from actorgrid.daemon import ensure_token, read_token

if TYPE_CHECKING:
    from pathlib import Path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestEnsureToken:
    def test_created_owner_only_and_reused(self, tmp_path: Path) -> None:
        """No token configured: a random one in a 0600 file, the same one the next time."""
        path = tmp_path / "db.token"
        token = ensure_token(None, path)
        assert len(token) >= 32
        assert mode(path) == 0o600
        assert read_token(path) == token
        assert ensure_token(None, path) == token

    def test_a_configured_token_wins_and_writes_nothing(self, tmp_path: Path) -> None:
        """The configured token is used as it is; no file appears."""
        path = tmp_path / "db.token"
        assert ensure_token("configured-token-1234", path) == "configured-token-1234"
        assert not path.exists()

    def test_a_file_others_can_read_is_tightened(self, tmp_path: Path) -> None:
        """An existing token file with group or other bits is set back to 0600."""
        path = tmp_path / "db.token"
        path.write_text("kept-token-value-123\n")
        path.chmod(0o644)
        assert ensure_token(None, path) == "kept-token-value-123"
        assert mode(path) == 0o600
