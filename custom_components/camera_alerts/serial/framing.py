"""Split a byte stream into lines with a hard size cap.

A board that never sends a newline (wrong baud rate, binary output) must not
grow memory: once the pending line passes the cap it is dropped up to the
next newline and reported once as too long.
"""

from __future__ import annotations

from collections.abc import Callable

from .protocol import MAX_LINE_BYTES


class LineSplitter:
    r"""Feed raw chunks; complete lines go to `on_line`, overlong ones to `on_overflow`.

    `\n` ends a line; a trailing `\r` is removed, so `\r\n` works too.
    Lines are passed without their terminator.
    """

    __slots__ = ("_buffer", "_discarding", "_max_bytes", "_on_line", "_on_overflow")

    def __init__(
        self,
        on_line: Callable[[bytes], None],
        on_overflow: Callable[[], None],
        max_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        """Initialise with the callbacks and the per-line cap (terminator excluded)."""
        self._on_line = on_line
        self._on_overflow = on_overflow
        self._max_bytes = max_bytes
        self._buffer = bytearray()
        self._discarding = False

    def reset(self) -> None:
        """Forget a partial line, e.g. after the port was reopened."""
        self._buffer.clear()
        self._discarding = False

    def feed(self, data: bytes) -> None:
        """Consume one chunk as it came from the port."""
        start = 0
        end = len(data)
        while start < end:
            newline = data.find(b"\n", start)
            if newline == -1:
                self._keep_partial(data, start, end)
                return
            self._finish_line(data, start, newline)
            start = newline + 1

    def _keep_partial(self, data: bytes, start: int, end: int) -> None:
        if self._discarding:
            return
        self._buffer += data[start:end]
        # One byte of slack for a "\r" that may still be followed by "\n".
        if len(self._buffer) > self._max_bytes + 1:
            self._buffer.clear()
            self._discarding = True
            self._on_overflow()

    def _finish_line(self, data: bytes, start: int, newline: int) -> None:
        if self._discarding:
            # The tail of a line already reported as too long.
            self._discarding = False
            return
        if self._buffer:
            self._buffer += data[start:newline]
            line = bytes(self._buffer)
            self._buffer.clear()
        else:
            line = data[start:newline]
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self._max_bytes:
            self._on_overflow()
            return
        self._on_line(line)
