"""Frigate answering 500, timing out and hanging, inside a whole integration entry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from functools import partial
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch
import uuid

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from aiohttp import web
from homeassistant.core import HomeAssistant
import pytest

from custom_components.camera_alerts.const import (
    CONF_FRIGATE_CAMERA,
    CONF_FRIGATE_ENABLED,
    CONF_FRIGATE_URL,
)
from custom_components.camera_alerts.handlers.frigate import FrigateSink
from custom_components.camera_alerts.models import EventType

from ..camera_helpers import camera_subentry, wait_until
from ..conftest import setup_integration
from ..handlers.conftest import RABBITMQ_URL, make_event, track_events
from ..handlers.frigate_server import FakeFrigate
from .helpers import amqp_options, get_status, hub_with_options, use_config_dir

pytestmark = [pytest.mark.usefixtures("mock_host_stats", "socket_enabled"), pytest.mark.slow]

CREATE = "/api/events/gate_cam/person/create"


@dataclass
class ScriptedFrigate(FakeFrigate):
    """FakeFrigate whose API requests follow a script decided when each one arrives.

    Each entry is `(delay, status)`: wait `delay` seconds, then answer `status`
    (None: answer normally). While `gate` is set to an unset event, every request
    waits for it and then answers `gate_status`. `/api/version` is never scripted.
    """

    script: list[tuple[float, int | None]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    gate_status: int = 500

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/api/version":
            return await super()._middleware(request, handler)
        self.requests.append((request.method, request.path))
        if self.gate is not None:
            await self.gate.wait()
            return web.json_response({"message": "stuck"}, status=self.gate_status)
        delay, status = self.script.pop(0) if self.script else (0.0, None)
        if delay:
            await asyncio.sleep(delay)
        if status is not None:
            return web.json_response({"message": "Internal error"}, status=status)
        return await handler(request)


@pytest.fixture
async def frigate() -> AsyncGenerator[ScriptedFrigate]:
    server = ScriptedFrigate(cameras={"gate_cam"})
    await server.async_start()
    yield server
    if server.gate is not None:
        server.gate.set()
    await server.async_stop()


def quick_frigate(**overrides: float) -> Any:
    """Build the entry's FrigateSink with a short timeout and backoff."""
    settings = {"timeout": 0.5, "backoff": 0.05, **overrides}
    return patch(
        "custom_components.camera_alerts.sinks.FrigateSink",
        partial(FrigateSink, **settings),  # type: ignore[arg-type]
    )


def api_requests(frigate: FakeFrigate) -> list[tuple[str, str]]:
    """Return the requests other than the `/api/version` health check."""
    return [r for r in frigate.requests if r[1] != "/api/version"]


def frigate_sink(entry: Any) -> FrigateSink:
    found = [s for s in entry.runtime_data.dispatcher.sinks if isinstance(s, FrigateSink)]
    assert len(found) == 1
    return found[0]


async def test_create_arrives_after_500s_and_a_timeout(
    hass: HomeAssistant, tmp_path: Path, frigate: ScriptedFrigate
) -> None:
    """500, 500, a hang past the timeout, then ok: one Frigate event, nothing failed."""
    use_config_dir(hass, tmp_path)
    # The hung request ends with a 504 long after the client gave up, so it never
    # creates a ghost event behind the sink's back.
    frigate.script = [(0.0, 500), (0.0, 500), (2.0, 504)]
    entry = hub_with_options(
        {CONF_FRIGATE_ENABLED: True, CONF_FRIGATE_URL: frigate.url},
        camera_subentry("Gate", url=str(tmp_path / "none.mp4"), **{CONF_FRIGATE_CAMERA: "gate_cam"}),
    )
    with quick_frigate():
        await setup_integration(hass, entry)
    sink = frigate_sink(entry)
    new = make_event(camera="Gate", event_type=EventType.NEW)
    end = make_event(camera="Gate", event_type=EventType.END, track_id=new.track_id)
    entry.runtime_data.dispatcher.dispatch(new)
    await entry.runtime_data.dispatcher.async_drain()
    assert api_requests(frigate) == [("POST", CREATE)] * 4  # 3 retries after the first
    assert len(frigate.events) == 1
    created = next(iter(frigate.events.values()))
    assert created.camera == "gate_cam"
    assert created.label == "person"
    assert created.body["draw"]["boxes"][0]["box"] == [0.1, 0.2, 0.3, 0.4]
    assert (sink.state.sent, sink.state.failed, sink.state.connected) == (1, 0, True)
    assert sink.status()["open_events"] == 1

    entry.runtime_data.dispatcher.dispatch(end)
    await entry.runtime_data.dispatcher.async_drain()
    assert created.end_time == end.timestamp.timestamp()
    status = (await get_status(hass))["handlers"]["frigate"]
    assert (status["sent"], status["failed"], status["open_events"]) == (2, 0, 0)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_stuck_frigate_never_delays_amqp(
    hass: HomeAssistant, tmp_path: Path, frigate: ScriptedFrigate
) -> None:
    """Frigate hangs: AMQP still gets all 60 events; then Frigate fails every create."""
    use_config_dir(hass, tmp_path)
    exchange = f"camera_alerts_fault_{uuid.uuid4().hex}"
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    amqp_exchange = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(amqp_exchange, routing_key="#")
    received: list[AbstractIncomingMessage] = []

    async def on_message(message: AbstractIncomingMessage) -> None:
        received.append(message)

    await queue.consume(on_message, no_ack=True)
    frigate.gate = asyncio.Event()
    entry = hub_with_options(
        {
            **amqp_options(RABBITMQ_URL, exchange),
            CONF_FRIGATE_ENABLED: True,
            CONF_FRIGATE_URL: frigate.url,
        },
        camera_subentry("Gate", url=str(tmp_path / "none.mp4"), **{CONF_FRIGATE_CAMERA: "gate_cam"}),
    )
    try:
        # The timeout is far longer than the AMQP delivery: Frigate is truly stuck meanwhile.
        with quick_frigate(timeout=60.0, retries=1):
            await setup_integration(hass, entry)
        sink = frigate_sink(entry)
        await wait_until(lambda: sink.state.connected)
        events = track_events(20, camera="Gate")
        for event in events:
            entry.runtime_data.dispatcher.dispatch(event)
        await wait_until(lambda: len(received) >= 60)

        assert [json.loads(m.body) for m in received] == [e.as_dict() for e in events]
        status = await get_status(hass)
        assert status["handlers"]["amqp"]["sent"] == 60
        # Frigate is still on its first create: nothing sent, nothing failed, the rest queued.
        assert api_requests(frigate) == [("POST", CREATE)]
        frigate_status = status["handlers"]["frigate"]
        assert (frigate_status["sent"], frigate_status["failed"]) == (0, 0)
        assert frigate_status["queued"] == 59

        # Frigate now answers 500 to everything: each new track fails after one retry.
        frigate.gate.set()
        await wait_until(lambda: sink.state.queued == 0 and sink.state.failed == 20)
        await entry.runtime_data.dispatcher.async_drain()
        frigate_status = (await get_status(hass))["handlers"]["frigate"]
        assert (frigate_status["sent"], frigate_status["failed"]) == (0, 20)
        assert frigate_status["connected"] is False
        assert frigate_status["open_events"] == 0
        assert "HTTP 500" in frigate_status["last_error"]
        assert api_requests(frigate) == [("POST", CREATE)] * 40  # 20 creates x 2 attempts; updates and ends skipped
        assert frigate.events == {}
        assert status["handlers"]["amqp"]["failed"] == 0
    finally:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        await amqp_exchange.delete()
        await connection.close()
