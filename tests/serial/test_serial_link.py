"""End to end over a real pseudo-terminal: the test writes as the ESP32."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import json
import logging
from typing import Any

import pytest

from custom_components.camera_alerts.serial.board import ValueKind
from custom_components.camera_alerts.serial.link import (
    SerialConnectError,
    SerialLink,
    SerialNotConnectedError,
    async_probe,
    list_ports,
)
from custom_components.camera_alerts.serial.monitor import SerialMonitor
from custom_components.camera_alerts.serial.protocol import CommandError, ErrorKind

type Waiter = Callable[[Callable[[], bool]], Awaitable[None]]

# Small backoff so reconnect tests stay fast; the logic is the same at 1 s..30 s.
FAST = {"backoff_base": 0.01, "backoff_cap": 0.05}


@pytest.fixture
async def monitor(pty_board: Any) -> Any:
    monitor = SerialMonitor(str(pty_board.link_path), 115200, name="esp32", **FAST)
    await monitor.async_start()
    yield monitor
    await monitor.async_stop()


async def test_entities_appear_with_types_units_and_values_update(
    pty_board: Any, monitor: SerialMonitor, waiter: Waiter
) -> None:
    state = monitor.state
    await waiter(lambda: state.connected)
    pty_board.write(
        '#describe {"temperature": {"unit": "°C", "device_class": "temperature",'
        ' "name": "Temperature"}}\r\n'.encode()
    )
    pty_board.write(
        b'{"temperature": 21.4, "humidity": 48, "door": "open", "motion": true}\r\n'
    )
    await waiter(lambda: "motion" in state.keys)
    temperature = state.keys["temperature"]
    assert (temperature.kind, temperature.unit, temperature.device_class) == (
        ValueKind.NUMERIC,
        "°C",
        "temperature",
    )
    assert temperature.value == 21.4
    assert state.keys["humidity"].value == 48
    assert state.keys["door"].kind is ValueKind.TEXT
    assert state.keys["motion"].kind is ValueKind.BINARY
    first_message = state.last_message
    assert first_message is not None

    pty_board.write(b"temperature=22.5 motion=off\n")
    await waiter(lambda: state.keys["motion"].value is False)
    assert state.keys["temperature"].value == 22.5
    assert state.last_message is not None
    assert state.last_message >= first_message


async def test_garbage_is_counted_ignored_and_reading_continues(
    pty_board: Any, waiter: Waiter, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = SerialMonitor(
        str(pty_board.link_path), 115200, name="esp32", max_keys=4, **FAST
    )
    await monitor.async_start()
    state = monitor.state
    try:
        await waiter(lambda: state.connected)
        pty_board.write(b"\xff\xfe\xfdtemp=1\n")  # invalid UTF-8
        pty_board.write(b"\x00\x01\x02\x03binary\x7f\n")  # noise
        pty_board.write(b"{" + b"x" * 5 * 1024 + b"}\n")  # 5 KiB line
        pty_board.write(b'{"temp": 20.')  # a partial line...
        pty_board.write(b"5}\r\n")  # ...completed by the next write
        pty_board.write(b'{"temp": "hot"}\n')  # type change
        pty_board.write(b"a=1 b=2 c=3 d=4\n")  # one over the cap of 4
        pty_board.write(b"{not json}\n")
        pty_board.write(b"temp=21\n")
        await waiter(lambda: state.lines_total == 8)
    finally:
        await monitor.async_stop()
    assert state.keys["temp"].value == 21
    assert state.keys["temp"].kind is ValueKind.NUMERIC
    assert list(state.keys) == ["temp", "a", "b", "c"]
    assert {kind: count for kind, count in state.errors.items() if count} == {
        ErrorKind.INVALID_UTF8: 1,
        ErrorKind.BINARY: 1,
        ErrorKind.TOO_LONG: 1,
        ErrorKind.TYPE_CHANGED: 1,
        ErrorKind.ENTITY_LIMIT: 1,
        ErrorKind.BAD_JSON: 1,
    }
    assert state.limit_reached
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any(r.exc_info for r in caplog.records)
    assert sum("too_long" in r.getMessage() for r in warnings) == 1


async def test_each_error_kind_is_logged_once_per_interval(
    pty_board: Any,
    monitor: SerialMonitor,
    waiter: Waiter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await waiter(lambda: monitor.state.connected)
    pty_board.write(b"noise\n" * 50 + b"ok=1\n")
    await waiter(lambda: "ok" in monitor.state.keys)
    assert monitor.state.errors[ErrorKind.BAD_PAIR] == 50
    assert sum("bad_pair" in r.getMessage() for r in caplog.records) == 1


async def test_unplug_marks_disconnected_and_replug_reconnects(
    pty_board: Any, monitor: SerialMonitor, waiter: Waiter
) -> None:
    state = monitor.state
    changes: list[bool] = []
    state.add_update_listener(lambda _keys: changes.append(state.connected))
    await waiter(lambda: state.connected)
    pty_board.write(b"count=1\n")
    await waiter(lambda: "count" in state.keys)

    pty_board.unplug()
    await waiter(lambda: not state.connected)
    assert not monitor.link.connected
    with pytest.raises(SerialNotConnectedError):
        await monitor.async_send("led=on")
    # Several reconnect attempts fail while the port is gone; none of them crash.
    await asyncio.sleep(0.1)
    assert not state.connected

    pty_board.plug()
    await waiter(lambda: state.connected)
    pty_board.write(b"count=2\n")
    await waiter(lambda: state.keys["count"].value == 2)
    assert monitor.link.connect_count == 2
    transitions = [c for i, c in enumerate(changes) if i == 0 or changes[i - 1] != c]
    assert transitions[-3:] == [True, False, True]


async def test_commands_arrive_on_the_board(
    pty_board: Any, monitor: SerialMonitor, waiter: Waiter
) -> None:
    await waiter(lambda: monitor.state.connected)
    await monitor.async_send("led=on")
    await monitor.async_send("say héllo")
    assert await pty_board.read_line() == b"led=on"
    assert await pty_board.read_line() == "say héllo".encode()
    with pytest.raises(CommandError):
        await monitor.async_send("two\nlines")


async def test_missing_port_keeps_retrying_until_it_appears(
    pty_board: Any, waiter: Waiter
) -> None:
    pty_board.unplug()
    monitor = SerialMonitor(str(pty_board.link_path), 9600, name="late", **FAST)
    await monitor.async_start()
    try:
        await asyncio.sleep(0.05)
        assert not monitor.state.connected
        pty_board.plug()
        await waiter(lambda: monitor.state.connected)
        pty_board.write(b'{"up": true}\n')
        await waiter(lambda: "up" in monitor.state.keys)
    finally:
        await monitor.async_stop()
    assert not monitor.state.connected


async def test_consumer_bug_does_not_stop_the_link(
    pty_board: Any, waiter: Waiter
) -> None:
    seen: list[bytes] = []

    def on_line(line: bytes) -> None:
        seen.append(line)
        if line == b"boom":
            raise RuntimeError("consumer bug")

    connected: list[bool] = []
    link = SerialLink(
        str(pty_board.link_path),
        115200,
        on_line=on_line,
        on_overflow=lambda: None,
        on_connection_change=connected.append,
        **FAST,
    )
    await link.async_start()
    try:
        await waiter(lambda: link.connected)
        pty_board.write(b"boom\nafter\n")
        await waiter(lambda: b"after" in seen)
    finally:
        await link.async_stop()
        await link.async_stop()  # idempotent
    assert connected == [True, False]


async def test_socket_url(socket_enabled: None, waiter: Waiter) -> None:
    received: list[bytes] = []
    peers: list[asyncio.StreamWriter] = []

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peers.append(writer)
        writer.write(json.dumps({"rssi": -60}).encode() + b"\n")
        received.append(await reader.readline())

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monitor = SerialMonitor(f"socket://127.0.0.1:{port}", 115200, name="tcp", **FAST)
    await monitor.async_start()
    try:
        await waiter(lambda: "rssi" in monitor.state.keys)
        assert monitor.state.keys["rssi"].value == -60
        await monitor.async_send("led=off")
        await waiter(lambda: bool(received))
        assert received == [b"led=off\n"]
    finally:
        await monitor.async_stop()
        for writer in peers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_probe(pty_board: Any, tmp_path: Any) -> None:
    await async_probe(str(pty_board.link_path), 115200)
    with pytest.raises(SerialConnectError):
        await async_probe(str(tmp_path / "nothing"), 115200)
    with pytest.raises(SerialConnectError):
        await async_probe("nonsense://x", 115200)


def test_list_ports_shape() -> None:
    ports = list_ports()
    assert all(
        isinstance(device, str) and isinstance(text, str) for device, text in ports
    )
    assert ports == sorted(ports)
