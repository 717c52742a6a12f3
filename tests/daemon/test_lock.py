"""The lock file (daemon/_lock.py): one holder, the holder's pid, stale files taken over."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from actorgrid.daemon import DaemonLock, DaemonLocked, ExitCode

if TYPE_CHECKING:
    from pathlib import Path


class TestDaemonLock:
    def test_a_held_lock_is_refused_with_the_holders_pid(self, tmp_path: Path) -> None:
        """A second holder (another open file description, as another process has) fails."""
        path = tmp_path / "db.lock"
        with DaemonLock(path) as held:
            assert held.stale_pid is None
            assert path.read_text() == f"{os.getpid()}\n"
            with pytest.raises(DaemonLocked) as caught:
                DaemonLock(path).acquire()
            assert caught.value.pid == os.getpid()
            assert f"pid {os.getpid()}" in str(caught.value)
            assert caught.value.exit_code == ExitCode.NOT_RUNNING
        assert not path.exists()

    def test_a_stale_file_is_taken_over(self, tmp_path: Path) -> None:
        """A file left by a dead holder (no lock on it) is taken, and its pid reported."""
        path = tmp_path / "db.lock"
        path.write_text("999999\n")
        with DaemonLock(path) as held:
            assert held.stale_pid == 999999
            assert path.read_text() == f"{os.getpid()}\n"

    def test_released_it_can_be_taken_again(self, tmp_path: Path) -> None:
        """Release, then another holder succeeds."""
        path = tmp_path / "db.lock"
        DaemonLock(path).__enter__().release()
        with DaemonLock(path) as again:
            assert again.stale_pid is None
