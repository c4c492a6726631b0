"""A camera's RTSP stream killed and restored: exact events on both sides of the outage."""

from __future__ import annotations

import logging
from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest

from ..camera_helpers import (
    EventRecorder,
    camera_subentry,
    hub_entry,
    person_clip,
    wait_until,
)
from ..camera_sources.media import RtspServer
from .helpers import use_config_dir

pytestmark = [pytest.mark.usefixtures("mock_host_stats", "socket_enabled"), pytest.mark.slow]

CONNECTIVITY = "binary_sensor.gate_connectivity"


async def test_stream_killed_and_restored(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One whole track, the server dies (no events, connectivity off), it returns: one more."""
    use_config_dir(hass, tmp_path)
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    clip = person_clip(tmp_path)
    server = RtspServer(clip)
    await hass.async_add_executor_job(server.start)
    entry = hub_entry(camera_subentry("Gate", url=server.url))
    entry.add_to_hass(hass)
    recorder = EventRecorder(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await wait_until(lambda: hass.states.get(CONNECTIVITY).state == "on")
        await wait_until(lambda: len(recorder.of_type("end")) == 1, guard=60)

        with caplog.at_level(logging.DEBUG, logger="custom_components.camera_alerts.pipeline.source"):
            await hass.async_add_executor_job(server.stop)
            at_kill = len(recorder.events)
            await wait_until(lambda: hass.states.get(CONNECTIVITY).state == "off")
            # Stay down through two failed reconnects before bringing it back.
            await wait_until(
                lambda: sum("retrying in" in r.getMessage() for r in caplog.records) >= 3,
                guard=60,
            )
        assert len(recorder.events) == at_kill
        assert hass.states.get("camera.gate").state == "unavailable"

        await hass.async_add_executor_job(server.start)
        await wait_until(lambda: hass.states.get(CONNECTIVITY).state == "on", guard=60)
        await wait_until(lambda: len(recorder.of_type("end")) == 2, guard=60)
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        recorder.close()
        await hass.async_add_executor_job(server.stop)

    tracks: dict[str, list[str]] = {}
    for event in recorder.events:
        tracks.setdefault(event["event_id"], []).append(event["type"])
    # Two tracks before unload (a third may have started; unload ends it).
    assert len([t for t in tracks.values() if t[-1] == "end"]) == len(tracks)
    assert 2 <= len(tracks) <= 3
    for kinds in tracks.values():
        assert kinds.count("new") == 1
        assert kinds.count("end") == 1
        assert kinds[0] == "new"
        assert kinds[-1] == "end"
        assert set(kinds[1:-1]) <= {"update"}
    assert at_kill == len(tracks[recorder.of_type("end")[0]["event_id"]])
