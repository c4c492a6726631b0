"""Tests for the camera subentry flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.camera_alerts.const import (
    CONF_CAMERA_ENTITY,
    CONF_FPS,
    CONF_FRIGATE_CAMERA,
    CONF_LABEL_SCORES,
    CONF_LABELS,
    CONF_MIN_SCORE,
    CONF_MOTION_MASK,
    CONF_NAME,
    CONF_STREAM_URL,
    CONF_ZONES,
    SUBENTRY_CAMERA,
)

from .camera_helpers import camera_subentry, hub_entry, setup_still_camera, static_clip
from .camera_sources.media import free_port, static_scene
from .ha_compat import start_subentry_reconfigure

pytestmark = pytest.mark.usefixtures("mock_host_stats")


def _form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        CONF_FPS: 5,
        CONF_LABELS: ["person", "car"],
        CONF_MIN_SCORE: 0.5,
    }
    data.update(overrides)
    return data


async def _start(hass: HomeAssistant, entry) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result


async def test_add_camera_from_file(hass: HomeAssistant, tmp_path: Path) -> None:
    """A readable clip is accepted and the camera starts without an HA restart."""
    clip = static_clip(tmp_path)
    entry = hub_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    result = await _start(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        _form(
            **{
                CONF_NAME: " Back yard ",
                CONF_STREAM_URL: str(clip),
                CONF_LABEL_SCORES: "person=0.6",
                CONF_ZONES: {"lawn": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]},
                CONF_FRIGATE_CAMERA: "back",
            }
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Back yard"
    assert result["data"][CONF_NAME] == "Back yard"
    assert result["data"][CONF_LABELS] == ["person", "car"]
    assert result["data"][CONF_FPS] == 5.0
    await hass.async_block_till_done()
    names = [camera.name for camera in entry.runtime_data.cameras.values()]
    assert names == ["Back yard"]
    assert entry.runtime_data.cameras[next(iter(entry.subentries))].running
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({CONF_NAME: "X", CONF_STREAM_URL: "ftp://cam/x"}, {CONF_STREAM_URL: "invalid_url"}),
        ({CONF_NAME: "X", CONF_STREAM_URL: "not a url"}, {CONF_STREAM_URL: "invalid_url"}),
        ({CONF_NAME: "X"}, {"base": "one_source"}),
        (
            {CONF_NAME: "X", CONF_STREAM_URL: "/x.mp4", CONF_CAMERA_ENTITY: "camera.a"},
            {"base": "one_source"},
        ),
        ({CONF_NAME: "  ", CONF_STREAM_URL: "CLIP"}, {CONF_NAME: "name_required"}),
        ({CONF_NAME: "gate", CONF_STREAM_URL: "CLIP"}, {CONF_NAME: "name_exists"}),
        ({CONF_NAME: "X", CONF_STREAM_URL: "CLIP", CONF_LABELS: []}, {CONF_LABELS: "labels_required"}),
        (
            {CONF_NAME: "X", CONF_STREAM_URL: "CLIP", CONF_LABEL_SCORES: "person"},
            {CONF_LABEL_SCORES: "invalid_label_scores"},
        ),
        (
            {CONF_NAME: "X", CONF_STREAM_URL: "CLIP", CONF_LABEL_SCORES: "person=2"},
            {CONF_LABEL_SCORES: "invalid_label_scores"},
        ),
        (
            {CONF_NAME: "X", CONF_STREAM_URL: "CLIP", CONF_ZONES: {"a": [[0, 0], [2, 0], [1, 1]]}},
            {CONF_ZONES: "invalid_zones"},
        ),
        (
            {CONF_NAME: "X", CONF_STREAM_URL: "CLIP", CONF_MOTION_MASK: [[[0, 0], [1, 1]]]},
            {CONF_MOTION_MASK: "invalid_mask"},
        ),
    ],
)
async def test_add_camera_errors(
    hass: HomeAssistant,
    tmp_path: Path,
    overrides: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Each user mistake gets its translated error, and the form stays open."""
    clip = static_clip(tmp_path)
    entry = hub_entry(camera_subentry("Gate", url=str(clip)))
    entry.add_to_hass(hass)
    with patch(
        "custom_components.camera_alerts.runtime.CameraAlertsRuntime._async_camera_detector",
        return_value=None,
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
    if overrides.get(CONF_STREAM_URL) == "CLIP":
        overrides[CONF_STREAM_URL] = str(clip)
    result = await _start(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], _form(**overrides)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors


@pytest.mark.usefixtures("socket_enabled")
async def test_unreachable_stream(hass: HomeAssistant) -> None:
    """A stream nobody serves is refused with cannot_connect."""
    entry = hub_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await _start(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        _form(**{CONF_NAME: "Gone", CONF_STREAM_URL: f"http://127.0.0.1:{free_port()}/x.mjpg"}),
    )
    assert result["errors"] == {CONF_STREAM_URL: "cannot_connect"}


async def test_camera_entity_source(hass: HomeAssistant) -> None:
    """An HA camera entity is checked by fetching one image from it."""
    await setup_still_camera(hass, next(static_scene((320, 180), 1)))
    entry = hub_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)

    result = await _start(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], _form(**{CONF_NAME: "Demo", CONF_CAMERA_ENTITY: "camera.nope"})
    )
    assert result["errors"] == {CONF_CAMERA_ENTITY: "cannot_connect"}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        _form(**{CONF_NAME: "Demo", CONF_CAMERA_ENTITY: "camera.still"}),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CAMERA_ENTITY] == "camera.still"
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_reconfigure_keeps_hidden_credentials(hass: HomeAssistant, tmp_path: Path) -> None:
    """Credentials are never shown back; an unchanged redacted URL keeps the stored one."""
    clip = static_clip(tmp_path)
    secret_url = f"file://user:s3cret@localhost{clip}"
    entry = hub_entry(camera_subentry("Gate", url=str(clip)))
    entry.add_to_hass(hass)
    with patch(
        "custom_components.camera_alerts.runtime.CameraAlertsRuntime._async_camera_detector",
        return_value=None,
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_STREAM_URL: secret_url}
    )
    await hass.async_block_till_done()

    result = await start_subentry_reconfigure(hass, entry, subentry.subentry_id)
    assert result["step_id"] == "reconfigure"
    shown = next(
        key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key == CONF_STREAM_URL
    )
    assert "s3cret" not in shown
    assert "***" in shown

    with patch(
        "custom_components.camera_alerts.camera_flow.probe_source"
    ) as probe:
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], _form(**{CONF_STREAM_URL: shown, CONF_FPS: 2})
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    probe.assert_called_once_with(secret_url)
    stored = entry.subentries[subentry.subentry_id].data
    assert stored[CONF_STREAM_URL] == secret_url
    assert stored[CONF_FPS] == 2.0
    assert stored[CONF_NAME] == "Gate"
