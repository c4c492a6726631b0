"""Build the configured sinks and turn their health into repair issues."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util, slugify

from .const import (
    CONF_AMQP_ENABLED,
    CONF_AMQP_EXCHANGE,
    CONF_AMQP_URL,
    CONF_FRIGATE_CAMERA,
    CONF_FRIGATE_ENABLED,
    CONF_FRIGATE_PASSWORD,
    CONF_FRIGATE_URL,
    CONF_FRIGATE_USERNAME,
    CONF_MQTT_ENABLED,
    CONF_MQTT_PREFIX,
    CONF_NAME,
    DEFAULT_AMQP_EXCHANGE,
    DEFAULT_MQTT_PREFIX,
    DOMAIN,
    SUBENTRY_CAMERA,
)
from .handlers.amqp import AmqpSink
from .handlers.base import Sink
from .handlers.dispatcher import Dispatcher
from .handlers.frigate import FrigateSink
from .handlers.mqtt import NOT_AVAILABLE as MQTT_NOT_AVAILABLE, MqttSink

# A sink that keeps failing this long raises a repair issue.
SINK_FAILING_ISSUE_AFTER = timedelta(minutes=5)


def sink_failing(status: Mapping[str, Any]) -> bool:
    """Return True for a sink that tries and fails (MQTT not set up is not a failure)."""
    return not status["connected"] and status["last_error"] not in (None, MQTT_NOT_AVAILABLE)


def build_sinks(
    hass: HomeAssistant, entry_id: str, options: Mapping[str, Any], subentries: Any
) -> list[Sink]:
    """Create the sinks the user enabled in the hub's options."""
    sinks: list[Sink] = []
    if options.get(CONF_MQTT_ENABLED):
        sinks.append(MqttSink(hass, options.get(CONF_MQTT_PREFIX) or DEFAULT_MQTT_PREFIX))
    if options.get(CONF_AMQP_ENABLED) and options.get(CONF_AMQP_URL):
        sinks.append(
            AmqpSink(
                options[CONF_AMQP_URL],
                options.get(CONF_AMQP_EXCHANGE) or DEFAULT_AMQP_EXCHANGE,
                outbox_path(hass, entry_id),
            )
        )
    if options.get(CONF_FRIGATE_ENABLED) and options.get(CONF_FRIGATE_URL):
        frigate_cameras = {
            str(subentry.data[CONF_NAME]): str(subentry.data[CONF_FRIGATE_CAMERA])
            for subentry in subentries.values()
            if subentry.subentry_type == SUBENTRY_CAMERA and subentry.data.get(CONF_FRIGATE_CAMERA)
        }
        sinks.append(
            FrigateSink(
                async_get_clientsession(hass),
                options[CONF_FRIGATE_URL],
                frigate_cameras,
                username=options.get(CONF_FRIGATE_USERNAME) or None,
                password=options.get(CONF_FRIGATE_PASSWORD) or None,
            )
        )
    return sinks


def outbox_path(hass: HomeAssistant, entry_id: str) -> Path:
    """Return where the AMQP outbox of an entry lives (it survives restarts)."""
    return Path(hass.config.path(".storage", f"{DOMAIN}_outbox_{entry_id}.jsonl"))


class SinkHealth:
    """Raise and clear the repair issues that sink state calls for."""

    def __init__(self, hass: HomeAssistant, dispatcher: Dispatcher) -> None:
        """Watch the dispatcher's sinks."""
        self.hass = hass
        self.dispatcher = dispatcher
        self._failing_since: dict[str, datetime] = {}
        self._issues: set[str] = set()

    @callback
    def async_check(self) -> None:
        """Compare each sink's state with the issues raised so far."""
        now = dt_util.utcnow()
        wanted: dict[str, tuple[str, dict[str, str]]] = {}
        for sink in self.dispatcher.sinks:
            state = sink.state
            if sink_failing(state.as_dict()):
                since = self._failing_since.setdefault(sink.name, now)
                if now - since >= SINK_FAILING_ISSUE_AFTER:
                    wanted[f"sink_failing_{sink.name}"] = (
                        "sink_failing",
                        {"sink": sink.name, "error": state.last_error or ""},
                    )
            else:
                self._failing_since.pop(sink.name, None)
            if isinstance(sink, AmqpSink) and sink.outbox_overflowed:
                wanted["amqp_outbox_dropped"] = (
                    "amqp_outbox_dropped",
                    {"dropped": str(state.dropped)},
                )
            if isinstance(sink, FrigateSink):
                for camera in sink.unknown_cameras:
                    wanted[f"frigate_unknown_camera_{slugify(camera)}"] = (
                        "frigate_unknown_camera",
                        {"camera": camera},
                    )
        for issue_id, (key, placeholders) in wanted.items():
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=key,
                translation_placeholders=placeholders,
            )
        for issue_id in self._issues - set(wanted):
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        self._issues = set(wanted)

    @callback
    def async_clear(self) -> None:
        """Drop every issue this entry raised (unload)."""
        for issue_id in self._issues:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        self._issues.clear()
