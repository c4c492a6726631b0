"""One serial board end to end: the link feeding a `BoardState`, with sane logging.

This is the object the integration keeps per serial subentry: start it on
setup, stop it on unload, render `monitor.state`, and call `async_send` for
the `send_serial` service.
"""

from __future__ import annotations

import logging

from .board import DEFAULT_MAX_KEYS, BoardState
from .link import DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP, SerialLink
from .protocol import ErrorKind, LineError
from .ratelimit import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

_ERROR_TEXT: dict[ErrorKind, str] = {
    ErrorKind.INVALID_UTF8: "a line that is not valid UTF-8",
    ErrorKind.BINARY: "a line with binary or control characters",
    ErrorKind.TOO_LONG: "a line longer than the limit",
    ErrorKind.BAD_JSON: "a line that is not a JSON object",
    ErrorKind.BAD_PAIR: "text that is not key=value",
    ErrorKind.BAD_KEY: "a key that is empty or too long",
    ErrorKind.BAD_VALUE: "a value that is not a number, boolean or text",
    ErrorKind.VALUE_TOO_LONG: "a text value longer than the limit",
    ErrorKind.BAD_DESCRIPTION: "an unusable #describe line",
    ErrorKind.TYPE_CHANGED: "a value whose type differs from the key's first value",
    ErrorKind.ENTITY_LIMIT: "more keys than the entity limit",
}


class SerialMonitor:
    """Run a `SerialLink` for one board and apply every line to its `BoardState`."""

    def __init__(
        self,
        url: str,
        baudrate: int,
        *,
        name: str,
        state: BoardState | None = None,
        max_keys: int = DEFAULT_MAX_KEYS,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        log_interval: float = 600.0,
    ) -> None:
        """Create the monitor; pass `state` restored with `BoardState.from_dict`."""
        self.name = name
        self.state = state if state is not None else BoardState(max_keys=max_keys)
        self._log = RateLimitedLog(_LOGGER, log_interval)
        self.state.add_error_listener(self._log_error)
        self.link = SerialLink(
            url,
            baudrate,
            name=name,
            on_line=self.state.handle_line,
            on_overflow=self._handle_overflow,
            on_connection_change=self.state.set_connected,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            log_interval=log_interval,
        )

    async def async_start(self) -> None:
        """Open the port in the background; never raises for a missing port."""
        await self.link.async_start()

    async def async_stop(self) -> None:
        """Stop reading and close the port."""
        await self.link.async_stop()

    async def async_send(self, line: str) -> None:
        """Send a command line to the board (see `SerialLink.async_write_line`)."""
        await self.link.async_write_line(line)

    def _handle_overflow(self) -> None:
        self.state.apply(LineError(ErrorKind.TOO_LONG))

    def _log_error(self, kind: ErrorKind) -> None:
        self._log.log(
            kind,
            logging.WARNING,
            "Serial board %s sent %s (%s); ignored, %d so far",
            self.name,
            _ERROR_TEXT[kind],
            kind.value,
            self.state.errors[kind],
        )
