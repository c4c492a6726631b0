"""The per-camera detection switch."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from .camera_helpers import camera_subentry, hub_entry, static_clip, wait_until

pytestmark = pytest.mark.usefixtures("mock_host_stats")


@pytest.fixture(autouse=True)
def only_switch_platform() -> Generator[None]:
    """Set up and unload only the switch platform (`camera`, a dependency, stays loaded)."""
    with patch("custom_components.camera_alerts.PLATFORMS", [Platform.SWITCH]):
        yield


async def test_switch(
    hass: HomeAssistant,
    tmp_path: Path,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The switch's registry entry and state, and what turning it off and on does."""
    entry = hub_entry(camera_subentry("Yard", url=str(static_clip(tmp_path))))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    camera = next(iter(entry.runtime_data.cameras.values()))
    await wait_until(lambda: camera.coordinator.data.connected)
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)

    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.yard_detection"}, blocking=True
    )
    assert hass.states.get("switch.yard_detection").state == "off"
    assert not camera.running
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.yard_detection"}, blocking=True
    )
    assert hass.states.get("switch.yard_detection").state == "on"
    assert camera.running
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
