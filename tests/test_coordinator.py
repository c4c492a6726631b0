"""Pushed coordinators under `homeassistant.update_entity` (on HA 2025.4 and 2026.x)."""

from __future__ import annotations

from pathlib import Path

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest

from .camera_helpers import camera_subentry, hub_entry, static_clip, wait_until


@pytest.mark.usefixtures("mock_host_stats")
async def test_update_entity_keeps_pushed_entities(
    hass: HomeAssistant, tmp_path: Path, entity_registry: er.EntityRegistry
) -> None:
    """A refresh asked of every entity leaves pushed ones available and unchanged.

    The hub's status and each camera's state are pushed by the runtime; a refresh has
    nothing to fetch. HA's default refresh raises NotImplementedError for a coordinator
    without an update method, and HA 2026.1+ then marks it failed, which makes every
    entity on it unavailable.
    """
    assert await async_setup_component(hass, "homeassistant", {})
    entry = hub_entry(camera_subentry("Yard", url=str(static_clip(tmp_path))))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    camera = next(iter(runtime.cameras.values()))
    await wait_until(lambda: camera.coordinator.data.connected)

    entity_ids = [
        entity.entity_id
        for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if not entity.disabled
    ]
    assert "switch.yard_detection" in entity_ids
    assert "sensor.camera_alerts_processing" in entity_ids
    before = {entity_id: hass.states.get(entity_id).state for entity_id in entity_ids}
    assert STATE_UNAVAILABLE not in before.values()

    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": entity_ids}, blocking=True
    )
    await hass.async_block_till_done()

    assert camera.coordinator.last_update_success
    assert runtime.status.last_update_success
    after = {entity_id: hass.states.get(entity_id).state for entity_id in entity_ids}
    assert STATE_UNAVAILABLE not in after.values()
    assert after["switch.yard_detection"] == before["switch.yard_detection"] == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
