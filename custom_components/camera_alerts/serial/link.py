"""Serial link to one board over pyserial-asyncio-fast, with reconnect and backoff.

The link owns one task. It opens the port (a device path or any pyserial URL
such as `socket://host:port`), splits what arrives into lines, and when the
port vanishes or fails it reports the disconnect and retries with exponential
backoff until it opens again. Nothing here reloads anything: the owner only
hears "connected" / "disconnected" and the lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
from typing import Final

import serial
from serial.tools.list_ports import comports
from serial_asyncio_fast import create_serial_connection

from .framing import LineSplitter
from .protocol import MAX_LINE_BYTES, encode_command
from .ratelimit import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

DEFAULT_BACKOFF_BASE: Final = 1.0
DEFAULT_BACKOFF_CAP: Final = 30.0
# Closing runs pyserial's close in an executor; never let shutdown hang on it.
CLOSE_TIMEOUT: Final = 5.0
PROBE_TIMEOUT: Final = 10.0

# What opening a port can raise: SerialException for missing/busy devices,
# OSError for refused sockets, ValueError for a malformed URL or setting.
_OPEN_ERRORS: Final = (serial.SerialException, OSError, ValueError)


class SerialConnectError(Exception):
    """The port could not be opened."""


class SerialNotConnectedError(Exception):
    """A command was sent while the board is disconnected."""


class _LinkProtocol(asyncio.Protocol):
    """Hands received bytes to a sink and resolves `lost` when the port closes."""

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self._on_data = on_data
        self.lost: asyncio.Future[Exception | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.received_data = False

    def data_received(self, data: bytes) -> None:
        self.received_data = True
        self._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def _async_open(
    url: str, baudrate: int, protocol: _LinkProtocol
) -> asyncio.Transport:
    transport: asyncio.Transport
    transport, _ = await create_serial_connection(
        asyncio.get_running_loop(), lambda: protocol, url, baudrate=baudrate
    )
    return transport


async def _async_close(
    transport: asyncio.BaseTransport, protocol: _LinkProtocol
) -> None:
    """Drop the port without flushing and wait until it is really closed."""
    # A read error may already be closing it: a second close makes
    # serial_asyncio_fast report the loss twice, the second time to no protocol.
    if not protocol.lost.done() and not transport.is_closing():
        transport.abort()  # type: ignore[attr-defined]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await asyncio.shield(protocol.lost)


async def async_probe(url: str, baudrate: int) -> None:
    """Open and close the port once; raise `SerialConnectError` when that fails.

    Meant for a config flow's `cannot_connect` check.
    """
    protocol = _LinkProtocol(lambda _data: None)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            transport = await _async_open(url, baudrate, protocol)
    except (*_OPEN_ERRORS, TimeoutError) as err:
        raise SerialConnectError(f"cannot open {url}: {err}") from err
    await _async_close(transport, protocol)


def list_ports() -> list[tuple[str, str]]:
    """Return (device, description) for each serial port, sorted by device.

    Blocking (it walks sysfs): call it in an executor.
    """
    return sorted((port.device, port.description or port.device) for port in comports())


class SerialLink:
    """Keep one port open, feed lines to `on_line`, and reconnect with backoff."""

    def __init__(
        self,
        url: str,
        baudrate: int,
        *,
        on_line: Callable[[bytes], None],
        on_overflow: Callable[[], None],
        on_connection_change: Callable[[bool], None],
        name: str | None = None,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        max_line_bytes: int = MAX_LINE_BYTES,
        log_interval: float = 600.0,
    ) -> None:
        """Configure the link; nothing is opened before `async_start`.

        `on_line` gets each line without its terminator; `on_overflow` is
        called once per line longer than `max_line_bytes`.
        """
        self.url = url
        self.baudrate = baudrate
        self.name = name or url
        self._on_line = on_line
        self._on_connection_change = on_connection_change
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._splitter = LineSplitter(self._handle_line, on_overflow, max_line_bytes)
        self._log = RateLimitedLog(_LOGGER, log_interval)
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._connected = False
        self.connect_count = 0

    @property
    def connected(self) -> bool:
        """Whether the port is open right now."""
        return self._connected

    async def async_start(self) -> None:
        """Start the reader task; it keeps reconnecting until `async_stop`."""
        if self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._async_run(), name=f"camera_alerts serial {self.name}"
        )

    async def async_stop(self) -> None:
        """Stop the task and close the port; safe to call more than once."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def async_write_line(self, text: str) -> None:
        """Send one command line (a newline is appended).

        Raises `CommandError` for text that is not one printable line and
        `SerialNotConnectedError` while the port is closed.
        """
        data = encode_command(text)
        transport = self._transport
        if transport is None or transport.is_closing() or not self._connected:
            raise SerialNotConnectedError(f"{self.name} is not connected")
        transport.write(data)  # type: ignore[attr-defined]

    def _handle_line(self, line: bytes) -> None:
        try:
            self._on_line(line)
        except Exception:
            # A bug in the consumer, not bad input: report it, keep reading.
            self._log.log(
                "consumer",
                logging.ERROR,
                "Error handling a line from %s",
                self.name,
            )
            _LOGGER.debug("Traceback for the line handling error", exc_info=True)

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        self._on_connection_change(connected)

    async def _async_run(self) -> None:
        delay = self._backoff_base
        try:
            while True:
                protocol = _LinkProtocol(self._splitter.feed)
                try:
                    transport = await _async_open(self.url, self.baudrate, protocol)
                except _OPEN_ERRORS as err:
                    self._log.log(
                        "open",
                        logging.WARNING,
                        "Cannot open serial port %s (%s); retrying with backoff",
                        self.name,
                        err,
                    )
                else:
                    await self._async_serve(transport, protocol)
                    if protocol.received_data:
                        # The board was really talking: a fresh fault restarts the backoff.
                        delay = self._backoff_base
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_cap)
        finally:
            self._set_connected(False)

    async def _async_serve(
        self, transport: asyncio.BaseTransport, protocol: _LinkProtocol
    ) -> None:
        """Run one open connection until the port closes (or the task is cancelled)."""
        self._splitter.reset()
        self._transport = transport
        self.connect_count += 1
        self._log.reset("open")
        _LOGGER.info("Serial port %s connected", self.name)
        self._set_connected(True)
        try:
            exc = await asyncio.shield(protocol.lost)
        finally:
            self._transport = None
            await _async_close(transport, protocol)
        self._set_connected(False)
        self._log.log(
            "lost",
            logging.WARNING,
            "Serial port %s disconnected (%s); reconnecting",
            self.name,
            exc or "closed",
        )
