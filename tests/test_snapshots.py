"""Snapshots on disk: bounded per camera across restarts, and gone with their camera."""

from __future__ import annotations

import os
from pathlib import Path
import time

from homeassistant.core import HomeAssistant
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

pytestmark = pytest.mark.usefixtures("mock_host_stats")

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
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What earlier runs left counts: too old goes at start, the oldest beyond the count on save."""
    monkeypatch.setattr(camera_runtime, "MAX_SNAPSHOTS_PER_CAMERA", 3)
    media = tmp_path / "media"
    hass.config.media_dirs = {"local": str(media)}
    folder = media / DOMAIN / "gate"
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
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """Removing a camera deletes its snapshot folder; the others keep theirs."""
    media = tmp_path / "media"
    hass.config.media_dirs = {"local": str(media)}
    clip = str(static_clip(tmp_path))
    door = plant(media / DOMAIN / "door", "a.jpg", age_s=60)
    yard = plant(media / DOMAIN / "yard", "b.jpg", age_s=60)
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
