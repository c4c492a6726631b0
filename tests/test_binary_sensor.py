"""Tests for the hub's problem sensor."""

from __future__ import annotations

from unittest.mock import MagicMock

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.camera_alerts.const import HOST_UPDATE_INTERVAL

from .conftest import setup_integration


async def test_problem_sensor(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_host_stats: MagicMock,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """Off while healthy; on with the reason while the host monitor fails."""
    await setup_integration(hass, mock_config_entry)
    entity_id = "binary_sensor.camera_alerts_problem"
    assert entity_registry.async_get(entity_id) == snapshot(name="entry")
    state = hass.states.get(entity_id)
    assert state.state == "off"
    assert state.attributes["problems"] == []

    mock_host_stats.side_effect = OSError("boom")
    freezer.tick(HOST_UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state.state == "on"
    assert state.attributes["problems"] == ["host_monitor_failed"]
