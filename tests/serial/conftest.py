"""Fixtures for the serial tests: a real pseudo-terminal plays the ESP32."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
import os
from pathlib import Path
import tty

import pytest

# A generous guard so a broken test fails instead of hanging; never asserted on.
WAIT_GUARD = 10.0


class PtyBoard:
    """The board side of a pty pair, reached by the link through a symlink.

    The symlink is the "USB device path": unplugging closes the pty, and
    replugging creates a new pty and points the symlink at its slave, the way
    a udev by-id link follows a re-enumerated board.
    """

    def __init__(self, link_path: Path) -> None:
        self.link_path = link_path
        self.master_fd = -1
        self.slave_fd = -1
        self._received = bytearray()
        self.plug()

    def plug(self) -> None:
        self.master_fd, self.slave_fd = os.openpty()
        # Raw mode from the start: no echo of what the test writes before the link opens.
        tty.setraw(self.slave_fd)
        os.set_blocking(self.master_fd, False)
        tmp = self.link_path.with_suffix(".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(self.slave_fd))
        tmp.replace(self.link_path)

    def unplug(self) -> None:
        # Closing the master is what makes the slave's reads fail with EIO.
        for fd in (self.master_fd, self.slave_fd):
            if fd >= 0:
                os.close(fd)
        self.master_fd = self.slave_fd = -1
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.master_fd, view)
            except BlockingIOError:
                continue
            view = view[written:]

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master_fd, 4096)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            self._received += chunk

    async def read_line(self) -> bytes:
        """Wait for one line the link sent to the board."""
        async with asyncio.timeout(WAIT_GUARD):
            while b"\n" not in self._received:
                self._drain()
                if b"\n" not in self._received:
                    await asyncio.sleep(0.005)
        line, _, rest = bytes(self._received).partition(b"\n")
        self._received = bytearray(rest)
        return line


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until `predicate()` holds (guarded, not timed)."""
    async with asyncio.timeout(WAIT_GUARD):
        # Polling on purpose: predicates span link, board and pty, with no one event to await.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.fixture
def pty_board(tmp_path: Path) -> Iterator[PtyBoard]:
    """A plugged-in board; its device path is `pty_board.link_path`."""
    board = PtyBoard(tmp_path / "ttyESP32")
    yield board
    board.unplug()


@pytest.fixture
def waiter() -> Callable[[Callable[[], bool]], Awaitable[None]]:
    """Expose `wait_until` to tests without importing this conftest."""
    return wait_until
