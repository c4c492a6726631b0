"""Cameras through the whole integration when something unexpected breaks.

Real clips, the real model and a Frigate that follows Frigate's API; a thin
wrapper around the real detector makes it fail like a bug would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
from pathlib import Path
import struct
import threading
from typing import Any
import zlib

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import numpy as np
import numpy.typing as npt
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.camera_alerts.camera_runtime import CameraRuntime
from custom_components.camera_alerts.const import (
    CONF_FRIGATE_ENABLED,
    CONF_FRIGATE_URL,
)
from custom_components.camera_alerts.inference import (
    Detection,
    FrameDetector,
    RemoteServerError,
)
from custom_components.camera_alerts.pipeline import (
    processor as processor_module,
    source as source_module,
)
from custom_components.camera_alerts.runtime import CameraAlertsRuntime

from .camera_helpers import (
    EventRecorder,
    camera_subentry,
    hub_entry,
    person_clip,
    setup_still_camera,
    static_clip,
    wait_until,
)
from .camera_sources.media import static_scene
from .handlers.frigate_server import FakeFrigate, running_frigate

pytestmark = pytest.mark.usefixtures("mock_host_stats", "media_dir")

PROBLEM = "binary_sensor.camera_alerts_problem"


@pytest.fixture
async def frigate() -> AsyncGenerator[FakeFrigate]:
    async with running_frigate(cameras={"gate"}) as server:
        yield server


class BreakableDetector:
    """The camera's real detector, which raises `error` while it is set."""

    def __init__(self, real: FrameDetector) -> None:
        self.real = real
        self.error: Exception | None = None
        self.failures = 0
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def detect(
        self, image: npt.NDArray[np.uint8], region: Any = None
    ) -> list[Detection]:
        with self.lock:
            if self.error is not None:
                self.failures += 1
                raise self.error
        return self.real.detect(image, region=region)


@pytest.mark.usefixtures("socket_enabled")
async def test_unexpected_processing_error_ends_tracks_and_recovers(
    hass: HomeAssistant,
    tmp_path: Path,
    frigate: FakeFrigate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in the middle of a track: `end`, presence off, Frigate closed, a problem; then back."""
    monkeypatch.setattr(processor_module, "RESTART_BACKOFF_S", 0.2)
    entry = hub_entry(
        camera_subentry("Gate", url=str(person_clip(tmp_path)), frigate_camera="gate"),
        options={CONF_FRIGATE_ENABLED: True, CONF_FRIGATE_URL: frigate.url},
    )
    entry.add_to_hass(hass)
    recorder = EventRecorder(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    camera = runtime.cameras["camera_gate"]
    detector = BreakableDetector(camera.processor.detector)
    camera.processor.detector = detector  # type: ignore[assignment]
    presence = "binary_sensor.gate_person_detected"
    try:
        await wait_until(lambda: bool(recorder.of_type("new")), guard=60)
        await wait_until(lambda: hass.states.get(presence).state == "on")
        await wait_until(lambda: len(frigate.events) == 1)
        with detector.lock:
            detector.error = ZeroDivisionError("a bug in a library")
        [new] = recorder.of_type("new")

        await wait_until(
            lambda: any(e["event_id"] == new["event_id"] for e in recorder.of_type("end"))
        )
        await wait_until(lambda: hass.states.get(PROBLEM).state == "on")
        assert hass.states.get(PROBLEM).attributes["problems"] == ["processing_failed:Gate"]
        # "Nobody there" would be a guess while detection cannot run.
        assert hass.states.get(presence).state == "unavailable"
        assert camera.coordinator.data.counts == {}
        await wait_until(
            lambda: all(e.end_time is not None for e in frigate.events.values())
        )
        status = runtime.status_document()
        assert status["cameras"]["Gate"]["processing_error"] == (
            "ZeroDivisionError: a bug in a library"
        )
        # It keeps trying (with a pause), without a new thread per try.
        failures = detector.failures
        await wait_until(lambda: detector.failures > failures)
        assert camera.running

        with detector.lock:
            detector.error = None
        await wait_until(lambda: hass.states.get(PROBLEM).state == "off")
        assert hass.states.get(presence).state in ("on", "off")
        assert camera.coordinator.data.processing_error is None
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        recorder.close()
    tracks: dict[str, list[str]] = {}
    for event in recorder.events:
        tracks.setdefault(event["event_id"], []).append(event["type"])
    for kinds in tracks.values():
        assert kinds[0] == "new"
        assert kinds[-1] == "end"
        assert kinds.count("end") == 1


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge 1-bit image (Pillow refuses it as a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


async def test_camera_entity_image_that_breaks_pillow(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera entity serving an image Pillow refuses: down with a reason, then back."""
    monkeypatch.setattr(source_module, "HAVE_OPENCV", False)
    still = await setup_still_camera(hass, next(static_scene((320, 180), 1)))
    good = still.jpeg
    entry = hub_entry(camera_subentry("Still", entity="camera.still"))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    connectivity = "binary_sensor.still_connectivity"
    try:
        await wait_until(lambda: hass.states.get(connectivity).state == "on")

        still.jpeg = _png_header_only(20_000, 20_000)
        await wait_until(lambda: hass.states.get(connectivity).state == "off")
        assert hass.states.get(connectivity).attributes["last_error"] == (
            "Cannot decode image"
        )

        still.jpeg = good
        await wait_until(lambda: hass.states.get(connectivity).state == "on")

        # A camera platform that fails in a way nobody planned for.
        async def broken_image(width: int | None = None, height: int | None = None) -> bytes:
            raise ZeroDivisionError("a bug in the camera platform")

        working = still.async_camera_image
        still.async_camera_image = broken_image  # type: ignore[method-assign]
        await wait_until(lambda: hass.states.get(connectivity).state == "off")
        assert hass.states.get(connectivity).attributes["last_error"] == (
            "ZeroDivisionError: a bug in the camera platform"
        )
        still.async_camera_image = working  # type: ignore[method-assign]
        await wait_until(lambda: hass.states.get(connectivity).state == "on", guard=60)
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


class WaitingCamera:
    """Make camera `name` wait for its "inference server", then load it on a signal.

    The first load fails like an unreachable server (the camera waits and is
    retried every 30 s); the retry's load waits for `may_load`.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.name = name
        self.may_load = asyncio.Event()
        self.loading = asyncio.Event()
        self.calls = 0
        real = CameraAlertsRuntime._async_load_detector

        async def load(runtime: CameraAlertsRuntime, data: dict[str, Any]) -> Any:
            if data["name"] == self.name:
                self.calls += 1
                if self.calls == 1:
                    raise RemoteServerError("Cannot reach the inference server")
                self.loading.set()
                await self.may_load.wait()
            return await real(runtime, data)

        monkeypatch.setattr(CameraAlertsRuntime, "_async_load_detector", load)


def _processor_threads() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if t.name.startswith("camera_alerts.processor")
    ]


async def _early_and_late(hass: HomeAssistant, tmp_path: Path) -> MockConfigEntry:
    """A hub whose camera "Early" runs and whose camera "Late" waits for its server."""
    clip = str(static_clip(tmp_path))
    entry = hub_entry(camera_subentry("Early", url=clip), camera_subentry("Late", url=clip))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _retry_now(hass: HomeAssistant) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await asyncio.sleep(0)


async def test_unload_while_the_retry_loads_a_waiting_camera(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry finishes loading while unload stops the running cameras: all stop."""
    waiting = WaitingCamera(monkeypatch, "Late")
    entry = await _early_and_late(hass, tmp_path)
    runtime = entry.runtime_data
    assert set(runtime.cameras) == {"camera_early"}
    early = runtime.cameras["camera_early"]
    real_shutdown = early.async_shutdown

    async def shutdown_while_the_retry_ends() -> None:
        # The retry's load ends while unload is inside its loop over the cameras.
        waiting.may_load.set()
        await wait_until(lambda: not runtime._retrying or "camera_late" in runtime.cameras)
        await real_shutdown()

    early.async_shutdown = shutdown_while_the_retry_ends  # type: ignore[method-assign]
    await _retry_now(hass)
    await wait_until(waiting.loading.is_set)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not early.running
    assert _processor_threads() == []


async def test_unload_while_the_retry_starts_a_camera(
    hass: HomeAssistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera the retry is starting when unload begins is stopped with the rest."""
    waiting = WaitingCamera(monkeypatch, "Late")
    waiting.may_load.set()
    starting = asyncio.Event()
    may_start = asyncio.Event()
    real_start = CameraRuntime.async_start

    async def start(camera: CameraRuntime) -> None:
        if camera.name == "Late":
            starting.set()
            await may_start.wait()
        await real_start(camera)

    monkeypatch.setattr(CameraRuntime, "async_start", start)
    entry = await _early_and_late(hass, tmp_path)
    runtime = entry.runtime_data
    await _retry_now(hass)
    await wait_until(starting.is_set)

    unload = hass.async_create_task(hass.config_entries.async_unload(entry.entry_id))
    await wait_until(lambda: runtime._stopped)
    may_start.set()
    assert await unload
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not any(camera.running for camera in runtime.cameras.values())
    assert _processor_threads() == []
