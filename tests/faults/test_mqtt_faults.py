"""MQTT sink faults: a private Mosquitto restarted under HA's real MQTT integration."""

from __future__ import annotations

from collections.abc import Callable, Generator
import json
from pathlib import Path
import threading
from typing import Any
from unittest.mock import patch
import uuid

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
import paho.mqtt.client as paho
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts.const import CONF_MQTT_ENABLED, CONF_MQTT_PREFIX
from custom_components.camera_alerts.handlers.mqtt import MqttSink
from custom_components.camera_alerts.models import EventType

from ..camera_helpers import GUARD_S, wait_until
from ..conftest import setup_integration
from ..handlers.conftest import make_event
from .conftest import Mosquitto
from .helpers import get_status, hub_with_options, use_config_dir

pytestmark = [pytest.mark.usefixtures("mock_host_stats", "socket_enabled"), pytest.mark.slow]


class PersistentSubscriber:
    """A paho client with a persistent session (fixed id, clean_session False, QoS 1)."""

    def __init__(self, port: int, prefix: str) -> None:
        self.messages: list[tuple[str, str, bool]] = []
        self.subscribed = threading.Event()
        self._lock = threading.Condition()
        self._prefix = prefix
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"ca-fault-{uuid.uuid4().hex[:12]}",
            clean_session=False,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe(f"{self._prefix}/#", qos=1)

    def _on_subscribe(self, *_: Any) -> None:
        self.subscribed.set()

    def _on_message(self, _client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))
            self._lock.notify_all()

    def on(self, topic: str) -> list[str]:
        with self._lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def live(self, topic: str) -> list[str]:
        """Payloads delivered as published (not the retained copy a (re)subscribe gets)."""
        with self._lock:
            return [payload for t, payload, retained in self.messages if t == topic and not retained]

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def retained_now(port: int, topic: str) -> str | None:
    """Connect a fresh clean client and return the retained payload of `topic` (or None)."""
    got: list[str] = []
    done = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.retain:
            got.append(msg.payload.decode())
        done.set()

    def on_subscribe(*_: Any) -> None:
        # Retained messages come before the SUBACK is handled; give a ping round trip.
        client.publish(f"{topic}/probe-{uuid.uuid4().hex}", "x", qos=1)

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_publish = lambda *_: done.set()
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    done.wait(GUARD_S)
    client.disconnect()
    client.loop_stop()
    return got[0] if got else None


async def _in_thread(hass: HomeAssistant, func: Callable[[], Any]) -> Any:
    return await hass.async_add_executor_job(func)


@pytest.fixture
def fast_mqtt_reconnect() -> Generator[None]:
    """HA's MQTT client retries every second instead of every ten."""
    with patch("homeassistant.components.mqtt.client.RECONNECT_INTERVAL_SECONDS", 1):
        yield


async def _mqtt_entry(hass: HomeAssistant, port: int) -> MockConfigEntry:
    entry = MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1", "port": port})
    await setup_integration(hass, entry)
    await wait_until(lambda: mqtt.is_connected(hass))
    return entry


async def _unload(hass: HomeAssistant, *entries: MockConfigEntry) -> None:
    for entry in entries:
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.usefixtures("fast_mqtt_reconnect")
async def test_mosquitto_restarted_mid_stream(
    hass: HomeAssistant, tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto]
) -> None:
    """Events published while the broker is down still arrive, in order, and count as sent.

    HA's `mqtt.async_publish` raises at once while disconnected, yet paho keeps the
    QoS 1 message and sends it after the reconnect: the sink counts such an event
    as sent (handed to the client) and shows the sink as disconnected meanwhile.
    """
    broker: Mosquitto = await _in_thread(hass, lambda: mosquitto_factory(persistence=True))
    use_config_dir(hass, tmp_path)
    prefix = f"camera_alerts_fault/{uuid.uuid4().hex}"
    mqtt_entry = await _mqtt_entry(hass, broker.port)
    subscriber = await _in_thread(hass, lambda: PersistentSubscriber(broker.port, prefix))
    entry = hub_with_options({CONF_MQTT_ENABLED: True, CONF_MQTT_PREFIX: prefix})
    try:
        assert await _in_thread(hass, lambda: subscriber.subscribed.wait(GUARD_S))
        await setup_integration(hass, entry)
        dispatcher = entry.runtime_data.dispatcher
        events_topic = f"{prefix}/events"
        count_topic = f"{prefix}/front_door/person"
        await wait_until(lambda: subscriber.on(f"{prefix}/available") == ["online"])

        before = [make_event(event_type=EventType.NEW) for _ in range(10)]
        for event in before:
            dispatcher.dispatch(event)
        await dispatcher.async_drain()
        await wait_until(lambda: len(subscriber.on(events_topic)) == 10)
        await wait_until(lambda: len(subscriber.live(count_topic)) == 10)
        assert subscriber.live(count_topic) == [str(n) for n in range(1, 11)]

        await _in_thread(hass, broker.stop)
        await wait_until(lambda: not mqtt.is_connected(hass))
        during = [make_event(event_type=EventType.END, track_id=e.track_id) for e in before[:5]]
        for event in during:
            dispatcher.dispatch(event)
        await dispatcher.async_drain()
        status = (await get_status(hass))["handlers"]["mqtt"]
        assert (status["connected"], status["sent"], status["failed"]) == (False, 15, 0)

        await _in_thread(hass, broker.start)
        await wait_until(lambda: mqtt.is_connected(hass))
        after = [make_event(event_type=EventType.END, track_id=e.track_id) for e in before[5:]]
        for event in after:
            dispatcher.dispatch(event)
        await dispatcher.async_drain()
        await wait_until(lambda: len(subscriber.on(events_topic)) >= 20)
        await wait_until(lambda: subscriber.live(count_topic)[-1:] == ["0"])

        # Exactly the 20 events, in dispatch order: none lost, none doubled.
        assert [json.loads(p) for p in subscriber.on(events_topic)] == [
            e.as_dict() for e in [*before, *during, *after]
        ]
        # Counts queued while down arrive after the reconnect, which also restates
        # the retained count once (5); then the live counts go on.
        live = subscriber.live(count_topic)
        assert live[:15] == [*(str(n) for n in range(1, 11)), "9", "8", "7", "6", "5"]
        assert [n for n in live[15:] if n != "5"] == ["4", "3", "2", "1", "0"]
        status = (await get_status(hass))["handlers"]["mqtt"]
        assert (status["connected"], status["sent"], status["failed"]) == (True, 20, 0)
        assert status["active_tracks"] == 0
        assert await _in_thread(hass, lambda: retained_now(broker.port, f"{prefix}/available")) == "online"
        assert await _in_thread(hass, lambda: retained_now(broker.port, count_topic)) == "0"
    finally:
        await _unload(hass, entry)
        await _in_thread(hass, subscriber.stop)
        await _unload(hass, mqtt_entry)


@pytest.mark.usefixtures("fast_mqtt_reconnect")
async def test_availability_announced_again_after_broker_lost_retained(
    hass: HomeAssistant, tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto]
) -> None:
    """A restarted broker without persistence: `available` must be `online` again."""
    broker: Mosquitto = await _in_thread(hass, lambda: mosquitto_factory(persistence=False))
    use_config_dir(hass, tmp_path)
    prefix = f"camera_alerts_fault/{uuid.uuid4().hex}"
    available = f"{prefix}/available"
    mqtt_entry = await _mqtt_entry(hass, broker.port)
    entry = hub_with_options({CONF_MQTT_ENABLED: True, CONF_MQTT_PREFIX: prefix})
    try:
        await setup_integration(hass, entry)
        dispatcher = entry.runtime_data.dispatcher
        sink = next(s for s in dispatcher.sinks if isinstance(s, MqttSink))
        await wait_until(lambda: sink.state.connected)
        assert await _in_thread(hass, lambda: retained_now(broker.port, available)) == "online"

        await _in_thread(hass, broker.stop)
        await wait_until(lambda: not mqtt.is_connected(hass))
        await _in_thread(hass, broker.start)
        await wait_until(lambda: mqtt.is_connected(hass))
        # One event after the reconnect, so the sink has certainly run again.
        dispatcher.dispatch(make_event(event_type=EventType.NEW))
        await dispatcher.async_drain()
        assert sink.state.sent == 1
        assert await _in_thread(hass, lambda: retained_now(broker.port, available)) == "online"
    finally:
        await _unload(hass, entry, mqtt_entry)
