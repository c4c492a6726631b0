"""Shared pieces of the fault tests: entries, an AMQP queue reader, status calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts.const import (
    CONF_AMQP_ENABLED,
    CONF_AMQP_EXCHANGE,
    CONF_AMQP_URL,
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    DOMAIN,
)

from ..camera_helpers import GUARD_S, wait_until


def use_config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Give this test its own config folder (`.storage/` outbox, MQTT's yaml)."""
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "configuration.yaml").write_text("", encoding="utf-8")
    hass.config.config_dir = str(config)
    return config


def hub_with_options(options: dict[str, Any], *subentries: Any) -> MockConfigEntry:
    """Return the hub entry with these sink options (and camera subentries)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={CONF_MODEL_PATH: "", CONF_INFERENCE_THREADS: 2},
        options=options,
        subentries_data=subentries,
    )


def amqp_options(url: str, exchange: str) -> dict[str, Any]:
    """Return options enabling only the AMQP sink."""
    return {CONF_AMQP_ENABLED: True, CONF_AMQP_URL: url, CONF_AMQP_EXCHANGE: exchange}


async def get_status(hass: HomeAssistant) -> dict[str, Any]:
    """Call `camera_alerts.get_status` and return its response."""
    response = await hass.services.async_call(
        DOMAIN, "get_status", {}, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


@dataclass(frozen=True)
class Received:
    """One AMQP message as a consumer saw it."""

    message_id: str
    routing_key: str
    body: dict[str, Any]
    persistent: bool


async def declare_durable_queue(url: str, exchange: str, queue: str) -> None:
    """Declare a durable queue bound to the (durable topic) exchange, then go away."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        q = await channel.declare_queue(queue, durable=True)
        await q.bind(ex, routing_key="#")
    finally:
        await connection.close()


async def read_queue(url: str, queue: str, at_least: int) -> list[Received]:
    """Consume the durable queue until `at_least` messages arrived and it is empty."""
    connection = await aio_pika.connect(url)
    received: list[Received] = []
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, durable=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            received.append(_received(message))
            await message.ack()

        await q.consume(on_message)
        await wait_until(lambda: len(received) >= at_least)
        # Anything still queued (redeliveries) comes right after; wait for an empty queue.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GUARD_S
        while (await channel.declare_queue(queue, passive=True)).declaration_result.message_count:
            if loop.time() > deadline:
                pytest.fail("queue not drained in time")
            await asyncio.sleep(0.05)
        await q.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    return received


def _received(message: AbstractIncomingMessage) -> Received:
    assert message.message_id is not None
    assert message.routing_key is not None
    return Received(
        message_id=message.message_id,
        routing_key=message.routing_key,
        body=json.loads(message.body),
        persistent=message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT,
    )
