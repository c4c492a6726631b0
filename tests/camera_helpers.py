"""Helpers for tests that run cameras through the whole integration."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Any

import cv2
from homeassistant.components.camera import Camera
from homeassistant.config_entries import ConfigSubentryData, ConfigSubentryDataWithId
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockPlatform,
    mock_platform,
)

from custom_components.camera_alerts.const import (
    CONF_CAMERA_ENTITY,
    CONF_FPS,
    CONF_INFERENCE_THREADS,
    CONF_LABEL_SCORES,
    CONF_LABELS,
    CONF_MIN_SCORE,
    CONF_MODEL_PATH,
    CONF_MOTION_MASK,
    CONF_NAME,
    CONF_STREAM_URL,
    CONF_ZONES,
    DOMAIN,
    EVENT_DETECTION,
    SUBENTRY_CAMERA,
)

from .camera_sources.media import make_clip, person_enters, static_scene

CLIP_SIZE = (640, 360)
# A guard so a broken test fails instead of hanging; never asserted on.
GUARD_S = 30.0


def camera_subentry(
    name: str, url: str = "", entity: str = "", **extra: Any
) -> ConfigSubentryDataWithId:
    """Return subentry data for one camera."""
    data: dict[str, Any] = {
        CONF_NAME: name,
        CONF_STREAM_URL: url,
        CONF_CAMERA_ENTITY: entity,
        CONF_FPS: 5.0,
        CONF_LABELS: ["person"],
        CONF_MIN_SCORE: 0.5,
        CONF_LABEL_SCORES: "",
        CONF_ZONES: {},
        CONF_MOTION_MASK: [],
    }
    data.update(extra)
    # A fixed id keeps unique ids (and so snapshots) stable across runs.
    return ConfigSubentryDataWithId(
        data=data,
        subentry_id=f"camera_{name.casefold().replace(' ', '_')}",
        subentry_type=SUBENTRY_CAMERA,
        title=name,
        unique_id=name.casefold(),
    )


def hub_entry(
    *subentries: ConfigSubentryData, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    """Return the hub entry holding these subentries (and these sink options)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={CONF_MODEL_PATH: "", CONF_INFERENCE_THREADS: 2},
        options=options or {},
        subentries_data=subentries,
        entry_id="01JCAMERAALERTSHUB000000000",
    )


def person_clip(directory: Path, fps: float = 20.0) -> Path:
    """A person walks in, stands, walks out; then an empty scene long enough to end the track."""
    frames = chain(
        static_scene(CLIP_SIZE, 10, seed=3),
        person_enters(CLIP_SIZE, 60, seed=1),
        static_scene(CLIP_SIZE, int(fps * 5), seed=2),
    )
    return make_clip(directory / "person.mp4", frames, fps=fps, size=CLIP_SIZE)


def static_clip(directory: Path, seconds: float = 4.0, fps: float = 10.0) -> Path:
    """A still scene with sensor noise."""
    return make_clip(
        directory / "static.mp4",
        static_scene(CLIP_SIZE, int(seconds * fps), seed=4),
        fps=fps,
        size=CLIP_SIZE,
    )


class EventRecorder:
    """Collect `camera_alerts_detection` bus events."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.events: list[dict[str, Any]] = []
        self._unsub = hass.bus.async_listen(EVENT_DETECTION, self._record)

    @callback
    def _record(self, event: Event) -> None:
        self.events.append(dict(event.data))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    def close(self) -> None:
        self._unsub()


async def wait_until(condition: Callable[[], bool], guard: float = GUARD_S) -> None:
    """Let Home Assistant run until `condition` holds; fail after `guard` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + guard
    while not condition():
        if loop.time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


class StillCamera(Camera):
    """A real Home Assistant camera entity that serves one JPEG (or fails)."""

    _attr_name = "Still"
    _attr_unique_id = "still_camera"

    def __init__(self, jpeg: bytes) -> None:
        super().__init__()
        self.jpeg = jpeg
        self.broken = False

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        if self.broken:
            return None
        return self.jpeg


async def setup_still_camera(hass: HomeAssistant, image: Any) -> StillCamera:
    """Add `camera.still` to Home Assistant, serving `image` as JPEG."""
    ok, buffer = cv2.imencode(".jpg", image)
    assert ok
    camera = StillCamera(bytes(buffer))

    async def async_setup_platform(
        hass: HomeAssistant, config: Any, async_add_entities: Any, discovery_info: Any = None
    ) -> None:
        async_add_entities([camera])

    mock_platform(hass, "still.camera", MockPlatform(async_setup_platform=async_setup_platform))
    assert await async_setup_component(hass, "camera", {"camera": {"platform": "still"}})
    await hass.async_block_till_done()
    return camera
