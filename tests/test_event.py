"""The per-camera detection event entity."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from syrupy.assertion import SnapshotAssertion

from .camera_helpers import camera_subentry, hub_entry, person_clip, wait_until

pytestmark = pytest.mark.usefixtures("mock_host_stats")


@pytest.fixture(autouse=True)
def only_event_platform() -> Generator[None]:
    """Set up and unload only the event platform (`camera`, a dependency, stays loaded)."""
    with patch("custom_components.camera_alerts.PLATFORMS", [Platform.EVENT]):
        yield


async def test_event_entity(
    hass: HomeAssistant,
    tmp_path: Path,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The entity's registry entry, then one state per lifecycle step of a real track."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    entry = hub_entry(camera_subentry("Gate", url=str(person_clip(tmp_path))))
    entry.add_to_hass(hass)
    seen: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: seen.append(event.data["new_state"].attributes.get("event_type"))
        if event.data["entity_id"] == "event.gate_detection" and event.data["new_state"]
        else None,
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entity_registry.async_get("event.gate_detection") == snapshot(name="entry")

    await wait_until(lambda: "end" in seen)
    state = hass.states.get("event.gate_detection")
    assert state.attributes["event_types"] == ["new", "update", "end"]
    assert state.attributes["event_type"] == "end"
    assert state.attributes["label"] == "person"
    assert set(state.attributes) >= {"score", "track_id", "event_id", "box", "zones", "snapshot"}
    steps = [step for step in seen if step]
    assert steps[0] == "new"
    assert steps.count("new") >= 1
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
