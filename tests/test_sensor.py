"""Tests for the host and hub sensors."""

from __future__ import annotations

from collections.abc import Generator
from unittest.mock import MagicMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.camera_alerts.const import HOST_UPDATE_INTERVAL
from custom_components.camera_alerts.host import HostStats

from .conftest import FIXED_HOST_STATS, setup_integration


@pytest.fixture
def only_sensor_platform() -> Generator[None]:
    """Set up and unload only the sensor platform (`camera`, a dependency, stays loaded)."""
    with patch("custom_components.camera_alerts.PLATFORMS", [Platform.SENSOR]):
        yield


@pytest.mark.usefixtures("mock_host_stats", "only_sensor_platform")
async def test_sensors(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every sensor, its registry entry and its state."""
    await setup_integration(hass, mock_config_entry)
    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_real_host_readings(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Real psutil readings land in the sensors with plausible values."""
    await setup_integration(hass, mock_config_entry)
    for key in ("cpu_usage", "memory_usage", "disk_usage"):
        value = float(hass.states.get(f"sensor.host_{key}").state)
        assert 0.0 <= value <= 100.0
    assert float(hass.states.get("sensor.host_memory_usage").state) > 0.0
    assert float(hass.states.get("sensor.host_load_1_min").state) >= 0.0


async def test_temperature_unavailable_without_sensor(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_host_stats: MagicMock
) -> None:
    """A host with no temperature sensor shows the sensor as unavailable."""
    mock_host_stats.return_value = HostStats(
        cpu_percent=1.0,
        memory_percent=2.0,
        disk_percent=3.0,
        load_1m=0.1,
        cpu_temperature=None,
    )
    await setup_integration(hass, mock_config_entry)
    assert hass.states.get("sensor.host_cpu_temperature").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.host_cpu_usage").state == "1.0"


async def test_host_failure_and_recovery(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_host_stats: MagicMock,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Host sensors go unavailable when readings fail and come back afterwards."""
    await setup_integration(hass, mock_config_entry)
    assert hass.states.get("sensor.host_memory_usage").state == "43.2"

    mock_host_stats.side_effect = OSError("disk gone")
    freezer.tick(HOST_UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.host_memory_usage").state == STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.camera_alerts_problem").state == "on"

    mock_host_stats.side_effect = None
    mock_host_stats.return_value = FIXED_HOST_STATS
    freezer.tick(HOST_UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.host_memory_usage").state == "43.2"
    assert hass.states.get("binary_sensor.camera_alerts_problem").state == "off"
