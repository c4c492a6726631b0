"""The integration where ONNX Runtime, OpenVINO and OpenCV cannot be imported (HA OS, the container).

An import hook makes `onnxruntime`, `openvino` and `cv2` unimportable (and, for
one test, PyAV too) and the integration's
modules are imported afresh under it, the way Home Assistant imports them on a
musl system where neither package has a wheel.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
import importlib.abc
import importlib.machinery
from io import BytesIO
from itertools import chain
import json
from pathlib import Path
import sys
from types import ModuleType
from typing import Any
import uuid

import aio_pika
from homeassistant import config_entries
from homeassistant.components.camera import Camera
from homeassistant.config_entries import (
    SOURCE_USER,
    ConfigEntryState,
    ConfigSubentryData,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from homeassistant.setup import async_setup_component
import numpy as np
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockPlatform,
    mock_platform,
)

from .camera_helpers import (
    CLIP_SIZE,
    EventRecorder,
    camera_subentry,
    hub_entry,
    person_clip,
    static_clip,
    wait_until,
)
from .camera_sources.media import person_enters, static_scene
from .handlers.conftest import RABBITMQ_URL
from .kserve_server import MODEL, kserve_server
from .serial.conftest import PtyBoard

DOMAIN = "camera_alerts"
BLOCKED = ("onnxruntime", "cv2", "openvino")


class _BlockNative(importlib.abc.MetaPathFinder):
    """Refuse to import the native packages, as on a system without their wheels."""

    def __init__(self, blocked: Sequence[str] = BLOCKED) -> None:
        self.blocked = tuple(blocked)
        self.refused: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if any(
            fullname == name or fullname.startswith(f"{name}.") for name in self.blocked
        ):
            self.refused.append(fullname)
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _purge(blocked: Sequence[str]) -> dict[str, ModuleType]:
    removed = {}
    prefixes = (*blocked, "custom_components.camera_alerts")
    for name in list(sys.modules):
        if any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes):
            removed[name] = sys.modules.pop(name)
    return removed


@contextmanager
def _blocking(blocked: Sequence[str]) -> Iterator[_BlockNative]:
    saved = _purge(blocked)
    # Importing config_flow afresh registers its (fresh) flow class in HA's
    # process-wide handler registry; later tests must get the original back.
    handler = config_entries.HANDLERS.get(DOMAIN)
    blocker = _BlockNative(blocked)
    sys.meta_path.insert(0, blocker)
    try:
        yield blocker
    finally:
        sys.meta_path.remove(blocker)
        _purge(blocked)
        sys.modules.update(saved)
        if handler is None:
            config_entries.HANDLERS.pop(DOMAIN, None)
        else:
            config_entries.HANDLERS[DOMAIN] = handler


@pytest.fixture
def without_native() -> Iterator[_BlockNative]:
    """Make the native packages unimportable and re-import the integration; restore after."""
    with _blocking(BLOCKED) as blocker:
        yield blocker


@pytest.fixture
def without_capture() -> Iterator[_BlockNative]:
    """As `without_native`, and PyAV is missing too (HA without its stream integration)."""
    with _blocking((*BLOCKED, "av")) as blocker:
        yield blocker


def _serial_subentry(port: str) -> ConfigSubentryData:
    return ConfigSubentryData(
        data={"name": "Garden", "port": port, "baudrate": 115200},
        subentry_type="serial",
        title="Garden",
        unique_id=port,
    )


async def test_runs_without_onnxruntime_and_opencv(
    hass: HomeAssistant,
    without_native: _BlockNative,
    tmp_path: Path,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Host sensors, serial, sinks and services work; the camera explains why it cannot run."""
    board = PtyBoard(tmp_path / "ttyESP32")
    try:
        entry = hub_entry(
            camera_subentry("Porch", entity="camera.porch"),
            _serial_subentry(str(board.link_path)),
        )
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(entry, options={"mqtt_enabled": True})
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()

        assert entry.state is ConfigEntryState.LOADED
        # The hook really was in the way, and nothing got the real packages.
        assert "cv2" in without_native.refused
        assert "onnxruntime" not in sys.modules
        assert "cv2" not in sys.modules
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("onnxruntime")

        # Host sensors read the real host.
        assert 0.0 < float(hass.states.get("sensor.host_memory_usage").state) <= 100.0

        # A serial board over a pty.
        await wait_until(
            lambda: hass.states.get("binary_sensor.garden_connectivity").state == "on"
        )
        board.write((json.dumps({"temperature": 21.5}) + "\n").encode())
        await wait_until(
            lambda: hass.states.get("sensor.garden_temperature") is not None
        )
        assert hass.states.get("sensor.garden_temperature").state == "21.5"

        # The MQTT sink without HA's MQTT integration: not available, not failing.
        sink_id = entity_registry.async_get_entity_id(
            "sensor", DOMAIN, f"{entry.entry_id}_sink_mqtt"
        )
        assert sink_id is not None
        assert hass.states.get(sink_id).state == "not_available"

        # The camera cannot run the local detector: a translated repair issue says why.
        issue = issue_registry.async_get_issue(DOMAIN, "local_backend_unavailable")
        assert issue is not None
        assert issue.translation_key == "local_backend_unavailable"
        assert (
            "ONNX Runtime cannot be imported" in issue.translation_placeholders["error"]
        )
        assert issue_registry.async_get_issue(DOMAIN, "model_invalid") is None
        for language, word in (("en", "musl"), ("pt-BR", "musl")):
            strings = await async_get_translations(hass, language, "issues", [DOMAIN])
            title = strings[
                f"component.{DOMAIN}.issues.local_backend_unavailable.title"
            ]
            description = strings[
                f"component.{DOMAIN}.issues.local_backend_unavailable.description"
            ]
            assert title
            assert word in description
            assert "{error}" in description

        # Services respond.
        status = await hass.services.async_call(
            DOMAIN, "get_status", {}, blocking=True, return_response=True
        )
        assert status["running"] is True
        assert status["cameras_processing"] == []
        assert "local_backend_unavailable" in status["problems"]
        assert status["monitors"]["serial"]["Garden"]["connected"] is True
        assert status["monitors"]["host"] == "ok"
        assert hass.states.get("binary_sensor.camera_alerts_problem").state == "on"

        image = tmp_path / "still.jpg"
        Image.new("RGB", (64, 48), (40, 80, 120)).save(image)
        hass.config.allowlist_external_dirs = {str(tmp_path)}
        with pytest.raises(HomeAssistantError) as raised:
            await hass.services.async_call(
                DOMAIN,
                "detect",
                {"image_path": str(image)},
                blocking=True,
                return_response=True,
            )
        assert raised.value.translation_key == "local_backend_unavailable"
        assert "ONNX Runtime cannot be imported" in str(
            raised.value.translation_placeholders
        )
        assert "onnxruntime" in without_native.refused

        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    finally:
        board.unplug()


async def test_hub_flow_explains_a_model_it_cannot_check(
    hass: HomeAssistant, without_native: _BlockNative, tmp_path: Path
) -> None:
    """A custom model path cannot be checked without ONNX Runtime: the form says so."""
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07" * 64)
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"model_path": str(model), "inference_threads": 2}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "local_backend_unavailable"}
    assert "ONNX Runtime" in result["description_placeholders"]["error"]
    strings = await async_get_translations(hass, "pt-BR", "config", [DOMAIN])
    assert (
        "musl" in strings[f"component.{DOMAIN}.config.error.local_backend_unavailable"]
    )
    assert "onnxruntime" in without_native.refused


class _FramesCamera(Camera):
    """A Home Assistant camera entity that serves a person walking in, one frame per request."""

    _attr_name = "Porch"
    _attr_unique_id = "porch_frames"

    def __init__(self, jpegs: list[bytes]) -> None:
        super().__init__()
        self.jpegs = jpegs
        self.served = 0

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        # The clip repeats, like the file source: a slow server (a loaded machine)
        # gets another pass at the person instead of an empty scene for ever.
        jpeg = self.jpegs[self.served % len(self.jpegs)]
        self.served += 1
        return jpeg


def _jpeg(frame_bgr: np.ndarray) -> bytes:
    buffer = BytesIO()
    Image.fromarray(np.ascontiguousarray(frame_bgr[:, :, ::-1])).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def kserve_url() -> Iterator[str]:
    """A real Open Inference Protocol server hosting the bundled model."""
    with kserve_server() as url:
        yield url


@pytest.mark.xdist_group("kserve")
@pytest.mark.usefixtures("socket_enabled")
async def test_remote_backend_runs_cameras_without_native_packages(
    hass: HomeAssistant, kserve_url: str, tmp_path: Path
) -> None:
    """A camera entity and a stream URL (read by PyAV) detect a person through the server.

    The events also reach RabbitMQ through the AMQP sink.
    """
    # Made before the hook is in place: the test's own media helpers use OpenCV.
    jpegs = [
        _jpeg(frame)
        for frame in chain(
            static_scene(CLIP_SIZE, 5, seed=3),
            person_enters(CLIP_SIZE, 40, seed=1),
            static_scene(CLIP_SIZE, 1, seed=2),
        )
    ]
    # At 5 fps the person stays long enough for a few remote inferences (KServe's
    # Python server takes ~0.2 s per frame and the two cameras take turns).
    clip = person_clip(tmp_path, fps=5.0)
    exchange_name = f"camera_alerts_native_{uuid.uuid4().hex}"
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key="*.person.new")
    with _blocking(BLOCKED) as blocker:
        entity_camera = _FramesCamera(jpegs)

        async def async_setup_platform(
            hass: HomeAssistant, config: Any, add: Any, discovery_info: Any = None
        ) -> None:
            add([entity_camera])

        mock_platform(
            hass,
            "frames.camera",
            MockPlatform(async_setup_platform=async_setup_platform),
        )
        assert await async_setup_component(
            hass, "camera", {"camera": {"platform": "frames"}}
        )
        await hass.async_block_till_done()

        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Camera Alerts",
            data={
                "backend": "remote",
                "model_path": "",
                "inference_threads": 1,
                "remote_url": kserve_url,
                "remote_model": MODEL,
            },
            options={
                "amqp_enabled": True,
                "amqp_url": RABBITMQ_URL,
                "amqp_exchange": exchange_name,
            },
            subentries_data=[
                camera_subentry("Door", entity="camera.porch"),
                camera_subentry("Gate", url=str(clip)),
            ],
        )
        entry.add_to_hass(hass)
        recorder = EventRecorder(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()

        def new_on(camera: str) -> list[dict[str, Any]]:
            return [e for e in recorder.of_type("new") if e["camera"] == camera]

        # Each pass of the clips shows the person for ~8 s; on a loaded machine KServe's
        # Python server takes seconds per frame, so allow a few passes.
        await wait_until(
            lambda: bool(new_on("Door")) and bool(new_on("Gate")), guard=120.0
        )
        recorder.close()
        for camera in ("Door", "Gate"):
            # One `new` per pass of the clip; a slow server may see more than one pass.
            assert {e["label"] for e in new_on(camera)} == {"person"}
        assert entry.runtime_data.problems() == []
        assert entry.runtime_data.model_info()["engine"] == "remote"
        # The stream URL was read by PyAV; no native package was loaded.
        assert entry.runtime_data.cameras["camera_gate"].status()["connected"] is True
        for name in BLOCKED:
            assert name not in sys.modules
        assert "cv2" in blocker.refused
        assert "av" in sys.modules

        # The AMQP sink delivered the same `new` events.
        dispatcher = entry.runtime_data.dispatcher
        await wait_until(lambda: dispatcher.status()["amqp"]["sent"] >= 2)
        keys = set()
        while (message := await queue.get(fail=False, timeout=5)) is not None:
            await message.ack()
            keys.add(message.routing_key)
        assert keys == {"door.person.new", "gate.person.new"}

        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    await channel.exchange_delete(exchange_name)
    await connection.close()


async def test_camera_flow_reads_streams_with_pyav(
    hass: HomeAssistant, without_native: _BlockNative, tmp_path: Path
) -> None:
    """Without OpenCV the camera flow still reads a stream URL, through PyAV."""
    clip = static_clip(tmp_path)
    entry = hub_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "camera"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Gate",
            "stream_url": str(clip),
            "fps": 5,
            "labels": ["person"],
            "min_score": 0.5,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "cv2" in without_native.refused


async def test_camera_flow_without_any_capture_backend(
    hass: HomeAssistant, without_capture: _BlockNative, tmp_path: Path
) -> None:
    """Without OpenCV and PyAV a stream URL is refused with a translated explanation."""
    entry = hub_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "camera"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Gate",
            "stream_url": "rtsp://127.0.0.1:8554/gate",
            "fps": 5,
            "labels": ["person"],
            "min_score": 0.5,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"stream_url": "capture_unavailable"}
    assert "av" in without_capture.refused
    for language in ("en", "pt-BR"):
        strings = await async_get_translations(
            hass, language, "config_subentries", [DOMAIN]
        )
        message = strings[
            f"component.{DOMAIN}.config_subentries.camera.error.capture_unavailable"
        ]
        assert "PyAV" in message
        assert "OpenCV" in message
