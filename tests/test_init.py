"""Tests for setting up, unloading and reloading the entry."""

from __future__ import annotations

from unittest.mock import MagicMock

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts.const import DOMAIN

from .conftest import setup_integration


async def test_setup_and_unload(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    mock_host_stats: MagicMock,
) -> None:
    """The entry loads with a hub and a host device, and unloads cleanly."""
    await setup_integration(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.LOADED

    hub = device_registry.async_get_device({(DOMAIN, mock_config_entry.entry_id)})
    host = device_registry.async_get_device(
        {(DOMAIN, f"{mock_config_entry.entry_id}_host")}
    )
    assert hub is not None
    assert host is not None
    assert host.via_device_id == hub.id

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("sensor.host_cpu_usage").state == "unavailable"


async def test_setup_retries_when_host_unreadable(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_host_stats: MagicMock
) -> None:
    """A host that cannot be read at start-up makes the entry retry later."""
    mock_host_stats.side_effect = OSError("no /proc")
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_options_change_reloads(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_host_stats: MagicMock
) -> None:
    """Any change to the entry is applied by reloading it."""
    await setup_integration(hass, mock_config_entry)
    first = mock_config_entry.runtime_data
    hass.config_entries.async_update_entry(mock_config_entry, options={"x": 1})
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert mock_config_entry.runtime_data is not first
