"""Diagnostics: configuration, runtime state and statistics, with secrets removed."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .const import (
    CONF_AMQP_URL,
    CONF_API_KEY,
    CONF_FRIGATE_PASSWORD,
    CONF_FRIGATE_USERNAME,
    CONF_STREAM_URL,
)
from .pipeline.url import redact_url
from .runtime import CameraAlertsConfigEntry

TO_REDACT = {
    CONF_API_KEY,
    CONF_FRIGATE_PASSWORD,
    CONF_FRIGATE_USERNAME,
    "password",
    "token",
}
# URLs keep their host (useful when helping users) but lose their credentials.
URL_KEYS = {CONF_AMQP_URL, CONF_STREAM_URL}


def _redact_urls(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            key: redact_url(value) if key in URL_KEYS and isinstance(value, str) else _redact_urls(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [_redact_urls(item) for item in data]
    return data


def _redact(data: dict[str, Any]) -> dict[str, Any]:
    redacted: dict[str, Any] = async_redact_data(_redact_urls(data), TO_REDACT)
    return redacted


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: CameraAlertsConfigEntry
) -> dict[str, Any]:
    """Return everything useful to debug the integration, without secrets."""
    runtime = entry.runtime_data
    host = runtime.host.data
    return _redact(
        {
            "entry": {
                "data": dict(entry.data),
                "options": dict(entry.options),
                "subentries": [
                    {
                        "type": subentry.subentry_type,
                        "title": subentry.title,
                        "data": dict(subentry.data),
                    }
                    for subentry in entry.subentries.values()
                ],
            },
            "status": runtime.status_document(),
            "model": runtime.model_info(),
            "host": None
            if host is None
            else {
                "cpu_percent": host.cpu_percent,
                "memory_percent": host.memory_percent,
                "disk_percent": host.disk_percent,
                "load_1m": host.load_1m,
                "cpu_temperature": host.cpu_temperature,
            },
        }
    )


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: CameraAlertsConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """Return the diagnostics of one camera or serial board device."""
    runtime = entry.runtime_data
    for identifier in device.identifiers:
        subentry_id = identifier[1]
        if camera := runtime.cameras.get(subentry_id):
            return _redact(
                {"camera": camera.status(), "config": dict(camera.subentry.data)}
            )
        if board := runtime.serial_boards.get(subentry_id):
            return _redact(
                {
                    "board": board.status(),
                    "config": dict(board.subentry.data),
                    "errors": {
                        str(kind.value): count for kind, count in board.state.errors.items()
                    },
                }
            )
    return await async_get_config_entry_diagnostics(hass, entry)
