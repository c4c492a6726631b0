"""Device triggers and conditions of camera devices, through real automations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    async_get_device_automations,
    async_mock_service,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.camera_alerts.const import DOMAIN, EVENT_DETECTION

from .camera_helpers import (
    camera_subentry,
    hub_entry,
    person_clip,
    static_clip,
    wait_until,
)
from .ha_compat import get_device

pytestmark = pytest.mark.usefixtures("mock_host_stats")


@pytest.fixture(autouse=True)
def media_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Snapshots go to a temporary media folder."""
    directory = tmp_path / "media"
    hass.config.media_dirs = {"local": str(directory)}
    return directory


@pytest.fixture
def calls(hass: HomeAssistant) -> list[ServiceCall]:
    """Record what automations do."""
    return async_mock_service(hass, "test", "automation")


async def _setup_garden(hass: HomeAssistant, clip: Path) -> ConfigEntry:
    """Set up the hub with one camera, Garden, watching people and cars."""
    entry = hub_entry(camera_subentry("Garden", url=str(clip), labels=["person", "car"]))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _camera_device(hass: HomeAssistant, entry: ConfigEntry) -> dr.DeviceEntry:
    subentry_id = next(iter(entry.subentries))
    device = get_device(hass, entry, subentry_id)
    assert device is not None
    return device


def _hub_device(hass: HomeAssistant, entry: ConfigEntry) -> dr.DeviceEntry:
    device = get_device(hass, entry, entry.entry_id)
    assert device is not None
    return device


def _automation(
    alias: str, device_id: str, trigger_type: str, **extra: Any
) -> dict[str, Any]:
    return {
        "alias": alias,
        "triggers": [
            {
                "trigger": "device",
                "domain": DOMAIN,
                "device_id": device_id,
                "type": trigger_type,
                **extra,
            }
        ],
        "actions": [
            {
                "action": "test.automation",
                "data": {
                    "alias": alias,
                    "platform": "{{ trigger.platform }}",
                    "label": "{{ trigger.event.data.label }}",
                    "track": "{{ trigger.event.data.track_id }}",
                },
            }
        ],
    }


def _detection(camera: str, label: str, kind: str, track_id: int) -> dict[str, Any]:
    return {
        "camera": camera,
        "entity_id": f"camera.{camera.lower()}",
        "label": label,
        "class_id": 0 if label == "person" else 2,
        "score": 0.8,
        "box": {"x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4},
        "frame_width": 640,
        "frame_height": 360,
        "track_id": track_id,
        "type": kind,
        "event_id": f"evt-{track_id}",
        "timestamp": "2025-04-01T12:00:00+00:00",
        "zones": [],
        "snapshot": None,
    }


async def _unload(hass: HomeAssistant, entry: ConfigEntry) -> None:
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_camera_device_lists_triggers_and_conditions(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """A camera device offers three triggers and one condition; the hub offers none."""
    entry = await _setup_garden(hass, static_clip(tmp_path))
    device = _camera_device(hass, entry)

    triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, device.id
    )
    ours = [t for t in triggers if t["domain"] == DOMAIN]
    assert sorted(t["type"] for t in ours) == [
        "object_detected",
        "object_gone",
        "object_updated",
    ]
    for trigger in ours:
        assert trigger["platform"] == "device"
        assert trigger["device_id"] == device.id
        assert "label" not in trigger

    conditions = await async_get_device_automations(
        hass, DeviceAutomationType.CONDITION, device.id
    )
    assert [(c["domain"], c["type"]) for c in conditions if c["domain"] == DOMAIN] == [
        (DOMAIN, "object_present")
    ]

    hub = _hub_device(hass, entry)
    hub_triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, hub.id
    )
    assert [t for t in hub_triggers if t["domain"] == DOMAIN] == []
    hub_conditions = await async_get_device_automations(
        hass, DeviceAutomationType.CONDITION, hub.id
    )
    assert [c for c in hub_conditions if c["domain"] == DOMAIN] == []
    await _unload(hass, entry)


async def test_capabilities_offer_the_watched_labels(
    hass: HomeAssistant, tmp_path: Path, hass_ws_client: WebSocketGenerator
) -> None:
    """The editor shows a drop-down of the camera's labels (optional for triggers)."""
    entry = await _setup_garden(hass, static_clip(tmp_path))
    device = _camera_device(hass, entry)
    assert await async_setup_component(hass, "device_automation", {})
    client = await hass_ws_client(hass)

    await client.send_json_auto_id(
        {
            "type": "device_automation/trigger/capabilities",
            "trigger": {
                "platform": "device",
                "domain": DOMAIN,
                "device_id": device.id,
                "type": "object_detected",
            },
        }
    )
    msg = await client.receive_json()
    assert msg["success"]
    (field,) = msg["result"]["extra_fields"]
    assert field["name"] == "label"
    assert field["optional"] is True
    assert field["selector"]["select"]["options"] == ["person", "car"]

    await client.send_json_auto_id(
        {
            "type": "device_automation/condition/capabilities",
            "condition": {
                "condition": "device",
                "domain": DOMAIN,
                "device_id": device.id,
                "type": "object_present",
            },
        }
    )
    msg = await client.receive_json()
    assert msg["success"]
    (field,) = msg["result"]["extra_fields"]
    assert field["name"] == "label"
    assert field["required"] is True
    assert field["selector"]["select"]["options"] == ["person", "car"]

    # A device that is not a camera has no capabilities.
    await client.send_json_auto_id(
        {
            "type": "device_automation/trigger/capabilities",
            "trigger": {
                "platform": "device",
                "domain": DOMAIN,
                "device_id": _hub_device(hass, entry).id,
                "type": "object_detected",
            },
        }
    )
    msg = await client.receive_json()
    assert msg["success"]
    assert msg["result"] == {"extra_fields": []}
    await _unload(hass, entry)


async def test_triggers_fire_only_for_their_camera_label_and_type(
    hass: HomeAssistant, tmp_path: Path, calls: list[ServiceCall]
) -> None:
    """Each automation runs exactly for the detection events it names."""
    entry = await _setup_garden(hass, static_clip(tmp_path))
    device = _camera_device(hass, entry)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                _automation("person_new", device.id, "object_detected", label="person"),
                _automation("any_update", device.id, "object_updated"),
                _automation("car_gone", device.id, "object_gone", label="car"),
            ]
        },
    )
    await hass.async_block_till_done()
    for alias in ("person_new", "any_update", "car_gone"):
        assert hass.states.get(f"automation.{alias}").state == "on"

    events = [
        _detection("Garden", "person", "new", 1),  # person_new
        _detection("Garden", "car", "new", 2),  # nothing: wrong label
        _detection("Gate", "person", "new", 3),  # nothing: another camera
        _detection("Garden", "person", "update", 1),  # any_update
        _detection("Garden", "car", "update", 2),  # any_update
        _detection("Garden", "person", "end", 1),  # nothing: wrong label
        _detection("Garden", "car", "end", 2),  # car_gone
        _detection("Gate", "car", "end", 4),  # nothing: another camera
    ]
    for data in events:
        hass.bus.async_fire(EVENT_DETECTION, data)
    await hass.async_block_till_done()

    assert [(c.data["alias"], c.data["label"], c.data["track"]) for c in calls] == [
        ("person_new", "person", 1),
        ("any_update", "person", 1),
        ("any_update", "car", 2),
        ("car_gone", "car", 2),
    ]
    assert {c.data["platform"] for c in calls} == {"device"}
    await _unload(hass, entry)


async def test_invalid_device_automations_are_rejected(
    hass: HomeAssistant,
    tmp_path: Path,
    calls: list[ServiceCall],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A label the camera does not watch, or a device that is no camera, is an error."""
    entry = await _setup_garden(hass, static_clip(tmp_path))
    device = _camera_device(hass, entry)
    hub = _hub_device(hass, entry)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                _automation("dog_new", device.id, "object_detected", label="dog"),
                _automation("hub_new", hub.id, "object_detected"),
                _automation("bad_type", device.id, "object_exploded"),
                {
                    "alias": "cat_present",
                    "triggers": [{"trigger": "event", "event_type": "go"}],
                    "conditions": [
                        {
                            "condition": "device",
                            "domain": DOMAIN,
                            "device_id": device.id,
                            "type": "object_present",
                            "label": "cat",
                        }
                    ],
                    "actions": [{"action": "test.automation"}],
                },
            ]
        },
    )
    await hass.async_block_till_done()
    for alias in ("dog_new", "hub_new", "bad_type", "cat_present"):
        assert hass.states.get(f"automation.{alias}").state == STATE_UNAVAILABLE
    assert 'Camera Garden does not watch "dog"; it watches: person, car' in caplog.text
    assert 'Camera Garden does not watch "cat"' in caplog.text
    assert f"Device {hub.id} is not a Camera Alerts camera" in caplog.text

    hass.bus.async_fire(EVENT_DETECTION, _detection("Garden", "dog", "new", 9))
    hass.bus.async_fire("go")
    await hass.async_block_till_done()
    assert calls == []
    await _unload(hass, entry)


async def test_real_detection_fires_trigger_while_present(
    hass: HomeAssistant, tmp_path: Path, calls: list[ServiceCall]
) -> None:
    """A person walking by runs the triggers; the presence condition follows the track."""
    entry = hub_entry(camera_subentry("Garden", url=str(person_clip(tmp_path))))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    device = _camera_device(hass, entry)

    def present(label: str) -> dict[str, Any]:
        return {
            "condition": "device",
            "domain": DOMAIN,
            "device_id": device.id,
            "type": "object_present",
            "label": label,
        }

    arrived = _automation("person_here", device.id, "object_detected", label="person")
    arrived["conditions"] = [present("person")]
    left = _automation("person_left", device.id, "object_gone", label="person")
    left["conditions"] = [{"condition": "not", "conditions": [present("person")]}]
    # Never runs: when a track ends, nobody of that label is tracked any more.
    still = _automation("still_here", device.id, "object_gone", label="person")
    still["conditions"] = [present("person")]
    assert await async_setup_component(
        hass, automation.DOMAIN, {automation.DOMAIN: [arrived, left, still]}
    )
    await hass.async_block_till_done()

    await wait_until(lambda: any(c.data["alias"] == "person_left" for c in calls))
    await _unload(hass, entry)

    # One walk: one new while the person is tracked, one end once nobody is.
    assert [c.data["alias"] for c in calls] == ["person_here", "person_left"]
    assert calls[0].data["label"] == "person"
    assert calls[0].data["track"] == calls[1].data["track"]
