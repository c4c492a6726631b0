"""A camera through the whole integration: real clips, streams and model."""

from __future__ import annotations

import os
from pathlib import Path
import threading
import time

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.camera_alerts import camera_runtime
from custom_components.camera_alerts.const import DOMAIN

from .camera_helpers import (
    EventRecorder,
    camera_subentry,
    hub_entry,
    person_clip,
    static_clip,
    wait_until,
)
from .camera_sources.media import MjpegServer, person_positions, static_scene
from .ha_compat import get_device

pytestmark = pytest.mark.usefixtures("mock_host_stats")


def _processor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("camera_alerts.")]


@pytest.fixture(autouse=True)
def media_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Snapshots go to a temporary media folder."""
    directory = tmp_path / "media"
    hass.config.media_dirs = {"local": str(directory)}
    return directory


async def test_person_enters_one_track_lifecycle(
    hass: HomeAssistant, tmp_path: Path, media_dir: Path
) -> None:
    """A person walking through gives one new, a few updates and one end."""
    clip = person_clip(tmp_path)
    entry = hub_entry(camera_subentry("Gate", url=str(clip)))
    entry.add_to_hass(hass)
    recorder = EventRecorder(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    await wait_until(lambda: bool(recorder.of_type("end")))
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    recorder.close()

    first_end = recorder.of_type("end")[0]
    track = [e for e in recorder.events if e["track_id"] == first_end["track_id"]]
    kinds = [e["type"] for e in track]
    assert kinds[0] == "new"
    assert kinds.count("new") == 1
    assert kinds.count("end") == 1
    assert kinds[-1] == "end"
    assert set(kinds[1:-1]) <= {"update"}
    assert len(kinds) <= 6  # rate-limited: never one event per frame
    assert len({e["event_id"] for e in track}) == 1

    new = track[0]
    assert new["camera"] == "Gate"
    assert new["label"] == "person"
    assert new["class_id"] == 0
    assert new["score"] >= 0.5
    assert new["entity_id"] == "camera.gate"
    assert (new["frame_width"], new["frame_height"]) == (640, 360)
    # The person is 60 % of the frame tall and stands on the ground.
    box = new["box"]
    assert 0.4 <= box["height"] <= 0.75
    assert 0.8 <= box["y"] + box["height"] <= 1.0
    assert new["snapshot"] is not None
    assert Path(new["snapshot"]).is_file()
    assert Path(new["snapshot"]).parent == media_dir / DOMAIN / "gate"
    assert _processor_threads() == []


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_static_scene_no_events(hass: HomeAssistant, tmp_path: Path) -> None:
    """A still scene with sensor noise produces no detection events."""
    entry = hub_entry(camera_subentry("Yard", url=str(static_clip(tmp_path))))
    entry.add_to_hass(hass)
    recorder = EventRecorder(hass)
    fps_writes: list[object] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: fps_writes.append(event)
        if event.data["entity_id"] == "sensor.yard_processed_frame_rate"
        else None,
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    camera = next(iter(runtime.cameras.values()))
    await wait_until(lambda: camera.status()["processed_fps"] > 0 and (
        camera.latest_result is not None and camera.latest_result.frames_processed >= 15
    ))
    result = camera.latest_result
    assert result is not None
    assert recorder.events == []
    # The motion gate keeps the detector idle on a quiet camera.
    assert result.frames_detected <= 1
    assert hass.states.get("binary_sensor.yard_person_detected").state == "off"
    assert hass.states.get("sensor.yard_person_count").state == "0"
    assert hass.states.get("binary_sensor.yard_connectivity").state == "on"
    # Diagnostic figures are throttled: not a state write per processed frame.
    assert len(fps_writes) <= 3
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    recorder.close()


@pytest.mark.usefixtures("socket_enabled")
async def test_stream_dies_and_recovers(hass: HomeAssistant) -> None:
    """A dead MJPEG stream makes the camera unavailable; it recovers by itself."""
    with MjpegServer(static_scene((320, 180), 20), fps=10) as server:
        entry = hub_entry(camera_subentry("Drive", url=server.url))
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        connectivity = "binary_sensor.drive_connectivity"
        await wait_until(lambda: hass.states.get(connectivity).state == "on")
        assert hass.states.get("sensor.drive_person_count").state == "0"

        server.stop()
        await wait_until(lambda: hass.states.get(connectivity).state == "off")
        assert hass.states.get("sensor.drive_person_count").state == "unavailable"
        assert hass.states.get("camera.drive").state == "unavailable"
        problem = hass.states.get("binary_sensor.camera_alerts_problem")
        assert problem.state == "on"
        assert problem.attributes["problems"] == ["camera_disconnected:Drive"]

        server.start()
        await wait_until(lambda: hass.states.get(connectivity).state == "on", guard=60)
        assert hass.states.get("sensor.drive_person_count").state == "0"
        assert hass.states.get("binary_sensor.camera_alerts_problem").state == "off"
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def test_services_and_switch_control_processing(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """stop/start/restart and the switch change what runs."""
    clip = static_clip(tmp_path)
    entry = hub_entry(camera_subentry("Yard", url=str(clip)), camera_subentry("Door", url=str(clip)))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    by_name = {camera.name: camera for camera in runtime.cameras.values()}
    assert all(camera.running for camera in by_name.values())

    await hass.services.async_call(DOMAIN, "stop", {"camera": "Door"}, blocking=True)
    assert not by_name["Door"].running
    assert by_name["Yard"].running
    assert hass.states.get("switch.door_detection").state == "off"
    status = await hass.services.async_call(
        DOMAIN, "get_status", {}, blocking=True, return_response=True
    )
    assert status["cameras_processing"] == ["Yard"]
    assert status["cameras"]["Door"]["running"] is False

    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.door_detection"}, blocking=True
    )
    assert by_name["Door"].running
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.yard_detection"}, blocking=True
    )
    assert not by_name["Yard"].running

    await hass.services.async_call(DOMAIN, "stop", {}, blocking=True)
    assert not any(camera.running for camera in by_name.values())
    assert hass.states.get("sensor.camera_alerts_processing").state == "stopped"
    assert _processor_threads() == []

    await hass.services.async_call(DOMAIN, "restart", {}, blocking=True)
    assert all(camera.running for camera in by_name.values())

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "stop", {"camera": "Nope"}, blocking=True)
    assert err.value.translation_key == "camera_not_found"
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert _processor_threads() == []


async def test_removed_subentry_leaves_nothing(
    hass: HomeAssistant,
    tmp_path: Path,
    entity_registry: er.EntityRegistry,
) -> None:
    """Removing a camera subentry stops it and removes its device and entities."""
    clip = static_clip(tmp_path)
    entry = hub_entry(camera_subentry("Yard", url=str(clip)), camera_subentry("Door", url=str(clip)))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    door = next(c for c in entry.runtime_data.cameras.values() if c.name == "Door")
    door_id = door.subentry.subentry_id
    assert get_device(hass, entry, door_id) is not None

    hass.config_entries.async_remove_subentry(entry, door_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert [c.name for c in entry.runtime_data.cameras.values()] == ["Yard"]
    assert get_device(hass, entry, door_id) is None
    assert not [
        e for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if e.config_subentry_id == door_id
    ]
    assert hass.states.get("camera.door") is None
    names = [t.name for t in _processor_threads()]
    assert not any("Door" in name for name in names)
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def test_person_positions_cover_the_clip() -> None:
    """The clip helper really shows the person (guards the pipeline test's premise)."""
    boxes = person_positions((640, 360), 60)
    assert sum(box is not None for box in boxes) >= 50


async def test_unusable_stored_url_degrades_only_that_camera(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """A stored URL that cannot be opened marks its camera down; the rest runs."""
    entry = hub_entry(
        camera_subentry("Broken", url="ftp://user:pw@cam/stream"),
        camera_subentry("Yard", url=str(static_clip(tmp_path))),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    broken = hass.states.get("binary_sensor.broken_connectivity")
    assert broken.state == "off"
    assert "pw" not in broken.attributes["last_error"]
    await wait_until(lambda: hass.states.get("binary_sensor.yard_connectivity").state == "on")
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


DAY = 24 * 3600.0


def plant(directory: Path, name: str, age_s: float) -> Path:
    """A snapshot an earlier run (or an earlier restart) left behind."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(b"\xff\xd8\xff\xd9")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


async def test_snapshots_stay_bounded_across_restarts(
    hass: HomeAssistant,
    tmp_path: Path,
    media_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What earlier runs left counts: too old goes at start, the oldest beyond the count on save."""
    monkeypatch.setattr(camera_runtime, "MAX_SNAPSHOTS_PER_CAMERA", 3)
    folder = media_dir / DOMAIN / "gate"
    stale = [plant(folder, f"stale{i}.jpg", age_s=8 * DAY + i) for i in range(2)]
    recent = [plant(folder, f"recent{i}.jpg", age_s=3600 - i) for i in range(4)]
    other = folder / "keep.txt"
    other.write_text("not a snapshot")

    entry = hub_entry(camera_subentry("Gate", url=str(person_clip(tmp_path))))
    entry.add_to_hass(hass)
    recorder = EventRecorder(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    try:
        # Too old: gone when the camera starts, before any event.
        await wait_until(lambda: not any(path.exists() for path in stale))
        await wait_until(lambda: bool(recorder.of_type("new")), guard=60)
        snapshot = Path(recorder.of_type("new")[0]["snapshot"])
        assert snapshot.parent == folder
        assert sorted(p.name for p in folder.glob("*.jpg")) == sorted(
            [snapshot.name, recent[2].name, recent[3].name]
        )
        assert other.exists()
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        recorder.close()


async def test_removed_camera_takes_its_snapshots(
    hass: HomeAssistant, tmp_path: Path, media_dir: Path
) -> None:
    """Removing a camera deletes its snapshot folder; the others keep theirs."""
    clip = str(static_clip(tmp_path))
    door = plant(media_dir / DOMAIN / "door", "a.jpg", age_s=60)
    yard = plant(media_dir / DOMAIN / "yard", "b.jpg", age_s=60)
    entry = hub_entry(camera_subentry("Yard", url=clip), camera_subentry("Door", url=clip))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    hass.config_entries.async_remove_subentry(entry, "camera_door")
    await hass.async_block_till_done()
    assert not door.parent.exists()
    assert yard.exists()
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
