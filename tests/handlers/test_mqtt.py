"""MQTT sink through Home Assistant's real MQTT integration and Mosquitto."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
import json
import logging
from pathlib import Path
import threading
import time
import uuid

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
import paho.mqtt.client as paho
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts.handlers.dispatcher import Dispatcher
from custom_components.camera_alerts.handlers.mqtt import (
    NOT_AVAILABLE,
    MqttSink,
    prefix_problem,
)
from custom_components.camera_alerts.models import EventType

from .conftest import make_event

BROKER = "127.0.0.1"
PORT = 1883


class Subscriber:
    """A real paho client collecting what arrives under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.messages: list[tuple[str, str, bool]] = []
        self.retained: dict[str, str] = {}
        self._lock = threading.Condition()
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self._client.on_message = self._on_message
        self._client.connect(BROKER, PORT)
        self._client.subscribe(f"{prefix}/#", qos=1)
        self._client.loop_start()

    def _on_message(
        self, _client: paho.Client, _userdata: object, msg: paho.MQTTMessage
    ) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))
            self.retained[msg.topic] = msg.payload.decode()
            self._lock.notify_all()

    def wait_for(self, predicate: object, within: float = 10.0) -> bool:
        deadline = time.monotonic() + within
        with self._lock:
            while not predicate(self):  # type: ignore[operator]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def on(self, topic: str) -> list[str]:
        with self._lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def prefix() -> str:
    """Return a topic prefix of this test only."""
    return f"camera_alerts_test/{uuid.uuid4().hex}"


@pytest.fixture
def subscriber(prefix: str, socket_enabled: None) -> Generator[Subscriber]:
    """Subscribe to the test's topics; stop the paho thread afterwards."""
    client = Subscriber(prefix)
    yield client
    client.stop()


@pytest.fixture
async def mqtt_entry(
    hass: HomeAssistant, tmp_path: Path, socket_enabled: None
) -> MockConfigEntry:
    """Set up HA's real MQTT integration against the local Mosquitto."""
    (tmp_path / "configuration.yaml").write_text("", encoding="utf-8")
    hass.config.config_dir = str(tmp_path)
    entry = MockConfigEntry(domain="mqtt", data={"broker": BROKER, "port": PORT})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _wait(hass: HomeAssistant, subscriber: Subscriber, predicate: object) -> bool:
    """Wait for the subscriber without blocking the event loop."""
    return await hass.async_add_executor_job(subscriber.wait_for, predicate)


async def _send_through(sink: MqttSink, count: int) -> None:
    """Start a dispatcher on the sink, hand it `count` events, let them out, stop."""
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    for _ in range(count):
        dispatcher.dispatch(make_event())
    await dispatcher.async_drain()
    await dispatcher.async_stop()


async def test_events_counts_and_availability(
    hass: HomeAssistant,
    mqtt_entry: MockConfigEntry,
    subscriber: Subscriber,
    prefix: str,
) -> None:
    """Events, retained counts and availability reach a real subscriber."""
    sink = MqttSink(hass, prefix)
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    first = make_event(camera="Front Door", label="person", event_type=EventType.NEW)
    second = make_event(camera="Front Door", label="person", event_type=EventType.NEW)
    steps = [
        first,
        second,
        make_event(event_type=EventType.UPDATE, track_id=first.track_id),
        make_event(event_type=EventType.END, track_id=first.track_id),
        make_event(camera="Garage", label="Car", event_type=EventType.NEW),
    ]
    for event in steps:
        dispatcher.dispatch(event)
    await dispatcher.async_drain()
    assert await _wait(hass, subscriber, lambda s: len(s.on(f"{prefix}/events")) == 5)
    assert await _wait(
        hass, subscriber, lambda s: len(s.on(f"{prefix}/garage/car")) == 1
    )

    assert [json.loads(p) for p in subscriber.on(f"{prefix}/events")] == [
        e.as_dict() for e in steps
    ]
    assert subscriber.on(f"{prefix}/front_door/person") == ["1", "2", "1"]
    assert subscriber.on(f"{prefix}/garage/car") == ["1"]
    assert subscriber.on(f"{prefix}/available") == ["online"]
    status = sink.status()
    assert status["sent"] == 5
    assert status["failed"] == 0
    assert status["connected"] is True
    assert status["active_tracks"] == 2

    await dispatcher.async_stop()
    assert await _wait(
        hass, subscriber, lambda s: s.retained.get(f"{prefix}/available") == "offline"
    )
    assert subscriber.retained[f"{prefix}/front_door/person"] == "0"
    assert subscriber.retained[f"{prefix}/garage/car"] == "0"

    # Retained topics are what a late subscriber sees; clear them for the broker's sake.
    for topic in (
        f"{prefix}/available",
        f"{prefix}/front_door/person",
        f"{prefix}/garage/car",
    ):
        await mqtt.async_publish(hass, topic, "", qos=1, retain=True)


async def test_without_mqtt_shows_not_available(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """No MQTT integration: the sink says so once and never raises."""
    sink = MqttSink(hass, "camera_alerts")
    with caplog.at_level(logging.DEBUG, logger="custom_components.camera_alerts"):
        await _send_through(sink, 50)

    status = sink.status()
    assert status["connected"] is False
    assert status["last_error"] == NOT_AVAILABLE
    assert status["failed"] == 50
    assert status["sent"] == 0
    records = [
        r
        for r in caplog.records
        if r.name.startswith("custom_components.camera_alerts")
    ]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING


async def test_mqtt_not_set_up_yet_holds_no_event(
    hass: HomeAssistant, tmp_path: Path, subscriber: Subscriber, prefix: str
) -> None:
    """HA's MQTT entry exists but is not loaded: events fail at once, then flow when it is."""
    (tmp_path / "configuration.yaml").write_text("", encoding="utf-8")
    hass.config.config_dir = str(tmp_path)
    entry = MockConfigEntry(domain="mqtt", data={"broker": BROKER, "port": PORT})
    entry.add_to_hass(hass)
    sink = MqttSink(hass, prefix)
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    for _ in range(20):
        dispatcher.dispatch(make_event())
    # HA's own wait for its MQTT client lasts up to 50 s; no event waits for it.
    async with asyncio.timeout(10):
        await dispatcher.async_drain()
    assert (sink.state.failed, sink.state.sent) == (20, 0)
    assert sink.state.last_error == NOT_AVAILABLE

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert await _wait(
        hass, subscriber, lambda s: s.retained.get(f"{prefix}/available") == "online"
    )
    event = make_event(event_type=EventType.UPDATE)
    dispatcher.dispatch(event)
    await dispatcher.async_drain()
    assert await _wait(hass, subscriber, lambda s: len(s.on(f"{prefix}/events")) == 1)
    assert sink.state.sent == 1
    await dispatcher.async_stop()
    await mqtt.async_publish(hass, f"{prefix}/available", "", qos=1, retain=True)


@pytest.mark.parametrize("bad", ["cams/#", "cams/+/x", "", "/"])
def test_prefix_rule(bad: str) -> None:
    """Wildcards and empty prefixes cannot be published to."""
    assert prefix_problem(bad) == "invalid_mqtt_prefix"
    assert prefix_problem("home/cams") is None


async def test_a_stored_wildcard_prefix_fails_clearly(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """A prefix saved before it was checked: events fail with a reason, logged once."""
    sink = MqttSink(hass, "cams/#")
    with caplog.at_level(logging.WARNING, logger="custom_components.camera_alerts"):
        await _send_through(sink, 5)
    assert (sink.state.failed, sink.state.sent) == (5, 0)
    assert sink.state.last_error == "invalid_mqtt_prefix"
    assert len([r for r in caplog.records if "cams/#" in r.getMessage()]) == 1
