"""Publish detection events through Home Assistant's own MQTT integration.

Topics (prefix default `camera_alerts`, camera and label slugified):
- `<prefix>/events`: every event as JSON.
- `<prefix>/<camera>/<label>`: how many tracks of that label are active on that
  camera now, retained (up on `new`, down on `end`).
- `<prefix>/available`: `online` while the sink runs, `offline` after, retained.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
import logging
from typing import Any

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import slugify
import voluptuous as vol

from ..models import DetectionEvent, EventType
from .base import Sink

_LOGGER = logging.getLogger(__name__)

NOT_AVAILABLE = "mqtt_not_available"
INVALID_PREFIX = "invalid_mqtt_prefix"
ONLINE = "online"
OFFLINE = "offline"


def prefix_problem(prefix: str) -> str | None:
    """Return why `prefix` cannot start a topic (`invalid_mqtt_prefix`), or None.

    A wildcard (`#`, `+`), a NUL, an empty prefix or one too long makes every
    publish fail, so the options flow refuses it.
    """
    prefix = prefix.strip().strip("/")
    if not prefix:
        return INVALID_PREFIX
    try:
        # The longest topic the sink publishes to, with a long camera and label.
        mqtt.valid_publish_topic(f"{prefix}/{'c' * 64}/{'l' * 64}")
    except vol.Invalid:
        return INVALID_PREFIX
    return None


class MqttSink(Sink):
    """Events, per-label counts and availability over HA's MQTT client."""

    def __init__(self, hass: HomeAssistant, prefix: str, *, name: str = "mqtt") -> None:
        """Initialise the sink."""
        super().__init__(name)
        self.hass = hass
        self.prefix = prefix.strip().strip("/")
        # (camera slug, label slug) -> event ids of the tracks active now.
        self._active: dict[tuple[str, str], set[str]] = {}
        self._published_counts: dict[tuple[str, str], int] = {}
        self._ready = False
        self._unsub_connection: Callable[[], None] | None = None
        self._announce_task: asyncio.Task[None] | None = None
        self._wait_task: asyncio.Task[None] | None = None
        self._prefix_problem = prefix_problem(prefix)

    @property
    def available_topic(self) -> str:
        """Return the retained availability topic."""
        return f"{self.prefix}/available"

    @property
    def events_topic(self) -> str:
        """Return the topic that carries every event."""
        return f"{self.prefix}/events"

    def count_topic(self, camera: str, label: str) -> str:
        """Return the retained count topic of a camera and label."""
        return f"{self.prefix}/{slugify(camera)}/{slugify(label)}"

    def status(self) -> dict[str, Any]:
        """Return the status with the active track counts."""
        return {
            **super().status(),
            "active_tracks": sum(len(ids) for ids in self._active.values()),
        }

    async def async_start(self) -> None:
        """Announce `online` now if HA's MQTT client is there, else once it comes.

        Never waits for the client itself: HA's wait lasts up to 50 s, and the
        events behind this sink would wait with it.
        """
        if self._prefix_problem is not None:
            _LOGGER.error(
                "The MQTT topic prefix %r cannot be published to (no # or +, not "
                "empty); reconfigure Camera Alerts",
                self.prefix,
            )
            self._record_error(INVALID_PREFIX, failed=0)
            return
        await self._async_ensure_ready()

    async def _async_ensure_ready(self) -> bool:
        """Return True when MQTT can be used now; never waits for HA's client."""
        if self._ready:
            return True
        if not mqtt.mqtt_config_entry_enabled(self.hass):
            self._mark_not_available()
            return False
        if not self.hass.config_entries.async_loaded_entries(mqtt.DOMAIN):
            # Set-up still running (or failed): one background wait, not one per event.
            self._mark_not_available()
            if self._wait_task is None or self._wait_task.done():
                self._wait_task = self.hass.async_create_background_task(
                    self._async_wait_for_client(), "camera_alerts MQTT wait"
                )
            return False
        await self._async_become_ready()
        return True

    async def _async_wait_for_client(self) -> None:
        if await mqtt.async_wait_for_mqtt_client(self.hass) and not self._ready:
            await self._async_become_ready()

    async def _async_become_ready(self) -> None:
        """Follow the connection and say `online` (once per start)."""
        self._ready = True
        self._unsub_connection = mqtt.async_subscribe_connection_status(
            self.hass, self._on_connection_change
        )
        await self._async_announce()
        self._set_connected(mqtt.is_connected(self.hass))
        if self.state.last_error == NOT_AVAILABLE:
            _LOGGER.info("MQTT is available again for camera alerts")

    async def _async_announce(self) -> None:
        """Say `online` and restate the retained counts.

        Repeated after every reconnect: a broker restarted without persistence has
        forgotten its retained messages.
        """
        await self._async_publish(self.available_topic, ONLINE, retain=True)
        for (camera, label), count in list(self._published_counts.items()):
            await self._async_publish(f"{self.prefix}/{camera}/{label}", str(count), retain=True)

    @callback
    def _on_connection_change(self, connected: bool) -> None:
        self._set_connected(connected)
        if connected and self._ready:
            if self._announce_task is not None:
                self._announce_task.cancel()
            self._announce_task = self.hass.async_create_background_task(
                self._async_announce(), "camera_alerts MQTT announce"
            )

    async def _async_publish(self, topic: str, payload: str, *, retain: bool) -> bool:
        """Publish at QoS 1; False when HA's client is offline.

        Offline, HA raises but paho keeps the QoS 1 message and sends it after the
        reconnect, so that is not a lost event.
        """
        try:
            await mqtt.async_publish(self.hass, topic, payload, qos=1, retain=retain)
        except HomeAssistantError:
            if mqtt.mqtt_config_entry_enabled(self.hass) and not mqtt.is_connected(self.hass):
                return False
            raise
        return True

    def _mark_not_available(self) -> None:
        if self.state.last_error != NOT_AVAILABLE:
            # Said once; each later event only bumps the counter.
            _LOGGER.warning(
                "The MQTT integration is not set up; camera alerts are not sent to MQTT"
            )
            self._record_error(NOT_AVAILABLE, failed=0)
        self._set_connected(False)

    async def async_handle(self, event: DetectionEvent) -> None:
        """Publish the event and, when it changed, the label's active count."""
        key = (slugify(event.camera), slugify(event.label))
        active = self._active.setdefault(key, set())
        if event.type is EventType.END:
            active.discard(event.event_id)
        else:
            # An update for an unseen track (e.g. after a restart) counts it too.
            active.add(event.event_id)
        if not active:
            del self._active[key]
        try:
            if self._prefix_problem is not None or not await self._async_ensure_ready():
                self.state.failed += 1
                return
            online = await self._async_publish(
                self.events_topic, json.dumps(event.as_dict()), retain=False
            )
            count = len(active)
            if self._published_counts.get(key) != count:
                online &= await self._async_publish(
                    self.count_topic(event.camera, event.label), str(count), retain=True
                )
                self._published_counts[key] = count
        except HomeAssistantError as err:
            self.state.connected = False
            self._record_error(str(err) or type(err).__name__)
            if not mqtt.mqtt_config_entry_enabled(self.hass):
                # The MQTT entry went away: behave as if it never was there.
                self._ready = False
            return
        self._record_success()
        if not online:
            # Handed to the client, which sends it once the broker is back.
            self._set_connected(False)

    async def async_stop(self) -> None:
        """Zero the counts (nothing is tracked any more) and announce `offline`."""
        if self._unsub_connection is not None:
            self._unsub_connection()
            self._unsub_connection = None
        for task in (self._announce_task, self._wait_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._announce_task = self._wait_task = None
        if self._ready and mqtt.mqtt_config_entry_enabled(self.hass):
            try:
                for key, count in self._published_counts.items():
                    if count:
                        await mqtt.async_publish(
                            self.hass,
                            f"{self.prefix}/{key[0]}/{key[1]}",
                            "0",
                            qos=1,
                            retain=True,
                        )
                await mqtt.async_publish(
                    self.hass, self.available_topic, OFFLINE, qos=1, retain=True
                )
            except HomeAssistantError as err:
                _LOGGER.debug("Could not announce MQTT offline: %s", err)
        self._active.clear()
        self._published_counts.clear()
        self._ready = False
        self._set_connected(False)
