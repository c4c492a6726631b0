"""The integration where ONNX Runtime and OpenCV cannot be imported (HA OS, the HA container).

An import hook makes `onnxruntime` and `cv2` unimportable and the integration's
modules are imported afresh under it, the way Home Assistant imports them on a
musl system where neither package has a wheel.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import importlib.abc
import importlib.machinery
import json
from pathlib import Path
import sys
from types import ModuleType

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
from PIL import Image
import pytest

from .camera_helpers import camera_subentry, hub_entry, wait_until
from .serial.conftest import PtyBoard

DOMAIN = "camera_alerts"
BLOCKED = ("onnxruntime", "cv2")
PURGED = (*BLOCKED, "custom_components.camera_alerts")


class _BlockNative(importlib.abc.MetaPathFinder):
    """Refuse to import the native packages, as on a system without their wheels."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if any(fullname == name or fullname.startswith(f"{name}.") for name in BLOCKED):
            self.refused.append(fullname)
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _purge() -> dict[str, ModuleType]:
    removed = {}
    for name in list(sys.modules):
        if any(name == prefix or name.startswith(f"{prefix}.") for prefix in PURGED):
            removed[name] = sys.modules.pop(name)
    return removed


@pytest.fixture
def without_native() -> Iterator[_BlockNative]:
    """Make onnxruntime and cv2 unimportable and re-import the integration; restore after."""
    saved = _purge()
    blocker = _BlockNative()
    sys.meta_path.insert(0, blocker)
    try:
        yield blocker
    finally:
        sys.meta_path.remove(blocker)
        _purge()
        sys.modules.update(saved)


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
        await wait_until(lambda: hass.states.get("sensor.garden_temperature") is not None)
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
        assert "OpenCV cannot be imported" in issue.translation_placeholders["error"]
        assert issue_registry.async_get_issue(DOMAIN, "model_invalid") is None
        for language, word in (("en", "musl"), ("pt-BR", "musl")):
            strings = await async_get_translations(hass, language, "issues", [DOMAIN])
            title = strings[f"component.{DOMAIN}.issues.local_backend_unavailable.title"]
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

        # The camera flow says a stream URL needs OpenCV.
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
        assert result["errors"] == {"stream_url": "opencv_unavailable"}
        strings = await async_get_translations(
            hass, "en", "config_subentries", [DOMAIN]
        )
        assert "OpenCV" in strings[
            f"component.{DOMAIN}.config_subentries.camera.error.opencv_unavailable"
        ]

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
    assert result["errors"] == {"model_path": "local_backend_unavailable"}
    strings = await async_get_translations(hass, "pt-BR", "config", [DOMAIN])
    assert "musl" in strings[f"component.{DOMAIN}.config.error.local_backend_unavailable"]
    assert "onnxruntime" in without_native.refused
