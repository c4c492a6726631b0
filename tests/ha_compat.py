"""Test helpers that work the same on every Home Assistant the suite runs on.

The suite runs on HA 2025.4.4 and 2026.2.3 (scripts/test); these helpers take the
API each release offers, so the tests themselves read the same on both.
"""

from __future__ import annotations

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlowResult,
)
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.camera_alerts.const import DOMAIN

HA_RELEASE = tuple(int(part) for part in HA_VERSION.split(".")[:2])


def get_device(hass: HomeAssistant, entry: ConfigEntry, key: str) -> dr.DeviceEntry | None:
    """Return the entry's device identified by `(DOMAIN, key)`.

    `DeviceRegistry.async_get_device` is deprecated from HA 2026.9 (identifiers are
    unique per config entry only); its replacement `async_get_device_by_identifier`
    came in 2026.8.
    """
    registry = dr.async_get(hass)
    by_identifier = getattr(registry, "async_get_device_by_identifier", None)
    if by_identifier is not None:  # HA 2026.8 and later
        device: dr.DeviceEntry | None = by_identifier((DOMAIN, key), entry.entry_id)
        return device
    return registry.async_get_device(identifiers={(DOMAIN, key)})


async def start_subentry_reconfigure(
    hass: HomeAssistant, entry: ConfigEntry, subentry_id: str
) -> ConfigFlowResult:
    """Open a subentry's reconfigure flow the way the frontend does.

    The harness's `MockConfigEntry.start_subentry_reconfigure_flow` dropped its
    subentry-type argument between the 2025.4 and 2026.2 releases.
    """
    subentry = entry.subentries[subentry_id]
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, subentry.subentry_type),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
    )
