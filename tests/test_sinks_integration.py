"""Detections of a real camera reach MQTT, RabbitMQ and Frigate through the integration."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
from pathlib import Path
import uuid

import aio_pika
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts.const import (
    CONF_AMQP_ENABLED,
    CONF_AMQP_EXCHANGE,
    CONF_AMQP_URL,
    CONF_FRIGATE_CAMERA,
    CONF_FRIGATE_ENABLED,
    CONF_FRIGATE_URL,
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    CONF_MQTT_ENABLED,
    CONF_MQTT_PREFIX,
    DOMAIN,
)

from .camera_helpers import EventRecorder, camera_subentry, person_clip, wait_until
from .handlers.conftest import RABBITMQ_URL
from .handlers.frigate_server import FakeFrigate
from .handlers.test_mqtt import Subscriber

pytestmark = pytest.mark.usefixtures("mock_host_stats", "socket_enabled")


@pytest.fixture
async def frigate() -> AsyncGenerator[FakeFrigate]:
    server = FakeFrigate(cameras={"gate_cam"})
    await server.async_start()
    yield server
    await server.async_stop()


async def test_detections_reach_every_sink(
    hass: HomeAssistant, tmp_path: Path, frigate: FakeFrigate
) -> None:
    """One tracked person: the same events on the bus, MQTT, AMQP and one Frigate event."""
    clip = person_clip(tmp_path)
    (tmp_path / "configuration.yaml").write_text("", encoding="utf-8")
    hass.config.config_dir = str(tmp_path)
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    mqtt_entry = MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1", "port": 1883})
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    await hass.async_block_till_done()

    unique = uuid.uuid4().hex
    prefix = f"camera_alerts_it/{unique}"
    exchange_name = f"camera_alerts_it_{unique}"
    subscriber = Subscriber(prefix)
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key="#")

    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={CONF_MODEL_PATH: "", CONF_INFERENCE_THREADS: 2},
        options={
            CONF_MQTT_ENABLED: True,
            CONF_MQTT_PREFIX: prefix,
            CONF_AMQP_ENABLED: True,
            CONF_AMQP_URL: RABBITMQ_URL,
            CONF_AMQP_EXCHANGE: exchange_name,
            CONF_FRIGATE_ENABLED: True,
            CONF_FRIGATE_URL: frigate.url,
        },
        subentries_data=(
            camera_subentry("Gate", url=str(clip), **{CONF_FRIGATE_CAMERA: "gate_cam"}),
        ),
    )
    entry.add_to_hass(hass)
    recorder = EventRecorder(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await wait_until(lambda: bool(recorder.of_type("end")))
        dispatcher = entry.runtime_data.dispatcher
        bus_events = [e for e in recorder.events if e["track_id"] == recorder.of_type("end")[0]["track_id"]]
        await wait_until(lambda: dispatcher.status()["amqp"]["sent"] >= len(bus_events))

        received: list[aio_pika.abc.AbstractIncomingMessage] = []
        while (message := await queue.get(fail=False, timeout=5)) is not None:
            await message.ack()
            received.append(message)
        track_messages = [
            m for m in received if json.loads(m.body)["event_id"] == bus_events[0]["event_id"]
        ]
        assert [json.loads(m.body) for m in track_messages] == bus_events
        assert [m.routing_key for m in track_messages] == [
            f"gate.person.{e['type']}" for e in bus_events
        ]
        assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in track_messages)

        events_topic = f"{prefix}/events"
        assert await hass.async_add_executor_job(
            subscriber.wait_for, lambda s: len(s.on(events_topic)) >= len(bus_events)
        )
        mqtt_events = [json.loads(p) for p in subscriber.on(events_topic)]
        assert [e for e in mqtt_events if e["event_id"] == bus_events[0]["event_id"]] == bus_events
        assert subscriber.retained[f"{prefix}/gate/person"] == "0"
        assert "1" in subscriber.on(f"{prefix}/gate/person")

        created = [e for e in frigate.events.values() if e.camera == "gate_cam"]
        assert len(created) == len({e["event_id"] for e in recorder.of_type("new")})
        assert created[0].label == "person"

        status = await hass.services.async_call(
            DOMAIN, "get_status", {}, blocking=True, return_response=True
        )
        assert set(status["handlers"]) == {"mqtt", "amqp", "frigate"}
        assert status["handlers"]["amqp"]["failed"] == 0
        assert hass.states.get("sensor.camera_alerts_amqp_sink").state == "connected"
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        recorder.close()
        subscriber.stop()
        await channel.exchange_delete(exchange_name)
        await connection.close()
