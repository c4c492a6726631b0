"""Tests for setting up, unloading and reloading the entry."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts import entity
from custom_components.camera_alerts.const import DOMAIN
from custom_components.camera_alerts.runtime import CameraAlertsRuntime

from .camera_helpers import camera_subentry, hub_entry, static_clip, wait_until
from .conftest import setup_integration
from .ha_compat import get_device


async def test_setup_and_unload(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_host_stats: MagicMock,
) -> None:
    """The entry loads with a hub and a host device, and unloads cleanly."""
    await setup_integration(hass, mock_config_entry)
    assert mock_config_entry.state is ConfigEntryState.LOADED

    hub = get_device(hass, mock_config_entry, mock_config_entry.entry_id)
    host = get_device(hass, mock_config_entry, f"{mock_config_entry.entry_id}_host")
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


async def test_devices_name_the_hub_the_way_home_assistant_asks(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_host_stats: MagicMock,
) -> None:
    """The hub is the parent by device id where HA has `via_device_id` (2026.8+).

    HA 2026.9 deprecates `via_device`; the suite's HA versions predate both, so the
    newer form is checked on the device info itself.
    """
    await setup_integration(hass, mock_config_entry)
    hub = get_device(hass, mock_config_entry, mock_config_entry.entry_id)
    assert hub is not None
    assert mock_config_entry.runtime_data.hub_device_id == hub.id

    assert entity.VIA_DEVICE_ID is ("via_device_id" in DeviceInfo.__optional_keys__)
    with patch.object(entity, "VIA_DEVICE_ID", True):
        info = entity.host_device_info(mock_config_entry)
    assert info.get("via_device_id") == hub.id
    assert "via_device" not in info
    with patch.object(entity, "VIA_DEVICE_ID", False):
        info = entity.host_device_info(mock_config_entry)
    assert info.get("via_device") == (DOMAIN, mock_config_entry.entry_id)
    assert "via_device_id" not in info
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)



async def test_camera_added_during_setup_is_started(
    hass: HomeAssistant, mock_host_stats: MagicMock, tmp_path: Path
) -> None:
    """A camera added while the entry sets up (a reload in progress) is not lost.

    HA calls update listeners only once setup has registered them; a camera or
    board added in between used to be missed until the next reload.
    """
    entry = hub_entry()
    clip = static_clip(tmp_path)
    original = CameraAlertsRuntime.async_setup
    added: list[bool] = []

    async def setup_then_add(runtime: CameraAlertsRuntime) -> None:
        await original(runtime)
        if not added:
            added.append(True)
            hass.config_entries.async_add_subentry(
                entry, ConfigSubentry(**camera_subentry("Yard", url=str(clip)))
            )

    entry.add_to_hass(hass)
    with patch.object(CameraAlertsRuntime, "async_setup", setup_then_add):
        # Not asserted: the reload that applies the change may already be under
        # way when this returns.
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    assert added
    assert entry.state is ConfigEntryState.LOADED
    await wait_until(
        lambda: (state := hass.states.get("binary_sensor.yard_connectivity"))
        is not None
        and state.state == "on"
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
