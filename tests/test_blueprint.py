"""The notify-on-detection blueprint, validated and run by Home Assistant."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from homeassistant.components import automation
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import models
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import homeassistant.util.dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.camera_alerts.const import DOMAIN, EVENT_DETECTION

from .camera_helpers import camera_subentry, hub_entry, wait_until

BLUEPRINT = (
    Path(__file__).parent.parent
    / "blueprints"
    / "automation"
    / "camera_alerts"
    / "notify_on_detection.yaml"
)

def test_blueprint_is_valid() -> None:
    """Home Assistant's blueprint schema accepts it, with the documented inputs."""
    blueprint = models.Blueprint(
        load_yaml_dict(str(BLUEPRINT)),
        expected_domain=automation.DOMAIN,
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )
    assert blueprint.domain == automation.DOMAIN
    inputs = blueprint.inputs
    assert set(inputs) == {"camera", "labels", "notify_action", "cooldown"}
    assert inputs["camera"]["selector"]["device"]["filter"] == [
        {"integration": DOMAIN, "model": "Camera detector"}
    ]
    assert inputs["labels"]["default"] == ["person"]
    assert inputs["cooldown"]["default"] == {"minutes": 2}
    assert blueprint.data["mode"] == "single"


@pytest.fixture
def camera_device(hass: HomeAssistant, tmp_path: Path) -> dr.DeviceEntry:
    """The device of a Camera Alerts camera named Garden, with the blueprint installed.

    The camera itself does not run: the blueprint only reads the device's name, and
    the detection events are fired by the test.
    """
    hass.config.config_dir = str(tmp_path / "config")
    target = Path(hass.config.path("blueprints/automation/camera_alerts"))
    target.mkdir(parents=True)
    shutil.copy(BLUEPRINT, target / BLUEPRINT.name)
    hass.config.media_dirs = {"local": str(tmp_path / "media")}

    entry = hub_entry(camera_subentry("Garden", labels=["person", "car", "dog"]))
    entry.add_to_hass(hass)
    subentry_id = next(iter(entry.subentries))
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        config_subentry_id=subentry_id,
        identifiers={(DOMAIN, subentry_id)},
        name="Garden",
        manufacturer="Camera Alerts",
        model="Camera detector",
    )


async def _use_blueprint(
    hass: HomeAssistant, device_id: str, **inputs: Any
) -> None:
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "alias": "Garden alert",
                "use_blueprint": {
                    "path": "camera_alerts/notify_on_detection.yaml",
                    "input": {
                        "camera": device_id,
                        "notify_action": "notify.mobile_app_phone",
                        **inputs,
                    },
                },
            }
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get("automation.garden_alert").state == "on"


def _detection(
    camera: str, label: str, kind: str = "new", snapshot: str | None = None
) -> dict[str, Any]:
    return {
        "camera": camera,
        "entity_id": "camera.garden",
        "label": label,
        "class_id": 0,
        "score": 0.8734,
        "box": {"x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4},
        "frame_width": 640,
        "frame_height": 360,
        "track_id": 1,
        "type": kind,
        "event_id": "evt-1",
        "timestamp": "2025-04-01T12:00:00+00:00",
        "zones": [],
        "snapshot": snapshot,
    }


async def _end_cooldown(hass: HomeAssistant, seconds: float) -> None:
    """Move Home Assistant's timers past the cooldown and let the run finish."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await wait_until(lambda: hass.states.get("automation.garden_alert").attributes["current"] == 0)
    await hass.async_block_till_done()


async def test_one_notification_per_cooldown(
    hass: HomeAssistant, camera_device: dr.DeviceEntry
) -> None:
    """A matching detection notifies once with the snapshot; the cooldown drops the rest."""
    calls: list[ServiceCall] = async_mock_service(hass, "notify", "mobile_app_phone")
    await _use_blueprint(
        hass, camera_device.id, labels=["person", "dog"], cooldown={"seconds": 60}
    )
    snapshot = f"{hass.config.media_dirs['local']}/camera_alerts/garden/20250401-person.jpg"

    for data in (
        _detection("Garden", "car"),  # not a chosen object
        _detection("Gate", "person"),  # another camera
        _detection("Garden", "person", kind="update"),  # not a new object
        _detection("Garden", "person", kind="end"),
    ):
        hass.bus.async_fire(EVENT_DETECTION, data)
        await hass.async_block_till_done()
    assert calls == []

    hass.bus.async_fire(EVENT_DETECTION, _detection("Garden", "person", snapshot=snapshot))
    await wait_until(lambda: len(calls) == 1)
    assert calls[0].data == {
        "title": "Garden",
        "message": "Person detected (87 %)",
        "data": {"image": "/media/local/camera_alerts/garden/20250401-person.jpg"},
    }
    assert hass.states.get("automation.garden_alert").attributes["current"] == 1

    # Within the cooldown a matching detection is dropped, not queued for later.
    hass.bus.async_fire(EVENT_DETECTION, _detection("Garden", "dog", snapshot=snapshot))
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=30))
    await asyncio.sleep(0.2)
    assert hass.states.get("automation.garden_alert").attributes["current"] == 1
    assert len(calls) == 1
    await _end_cooldown(hass, 61)
    assert len(calls) == 1

    # After the cooldown the next detection notifies again (no snapshot: no image).
    hass.bus.async_fire(EVENT_DETECTION, _detection("Garden", "dog"))
    await wait_until(lambda: len(calls) == 2)
    assert calls[1].data == {"title": "Garden", "message": "Dog detected (87 %)", "data": {}}
    await _end_cooldown(hass, 61)
    assert len(calls) == 2


async def test_empty_labels_mean_any_object(
    hass: HomeAssistant, camera_device: dr.DeviceEntry
) -> None:
    """Without chosen objects every new object of the camera notifies.

    Renaming the device in the UI does not break the match on the camera's name.
    """
    dr.async_get(hass).async_update_device(camera_device.id, name_by_user="Back garden")
    calls: list[ServiceCall] = async_mock_service(hass, "notify", "mobile_app_phone")
    await _use_blueprint(hass, camera_device.id, labels=[], cooldown={"seconds": 0})
    for label in ("person", "car"):
        hass.bus.async_fire(EVENT_DETECTION, _detection("Garden", label))
        await hass.async_block_till_done()
    hass.bus.async_fire(EVENT_DETECTION, _detection("Gate", "car"))
    await hass.async_block_till_done()
    assert [call.data["message"] for call in calls] == [
        "Person detected (87 %)",
        "Car detected (87 %)",
    ]
