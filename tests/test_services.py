"""Tests for the start, stop, restart and get_status services."""

from __future__ import annotations

import os
from pathlib import Path
import threading
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.camera_alerts.const import DOMAIN

from .conftest import setup_integration

PROCESSING = "sensor.camera_alerts_processing"
ASTRONAUT = Path(__file__).parent / "inference" / "data" / "astronaut.jpg"
DOG = Path(__file__).parent / "inference" / "data" / "dog.jpg"


@pytest.mark.usefixtures("mock_host_stats")
async def test_stop_start_restart(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Stop and start switch processing; host sensors keep running."""
    await setup_integration(hass, mock_config_entry)
    assert hass.states.get(PROCESSING).state == "running"

    await hass.services.async_call(DOMAIN, "stop", {}, blocking=True)
    assert hass.states.get(PROCESSING).state == "stopped"
    assert hass.states.get("sensor.host_cpu_usage").state == "12.5"

    await hass.services.async_call(DOMAIN, "start", {}, blocking=True)
    assert hass.states.get(PROCESSING).state == "running"

    await hass.services.async_call(DOMAIN, "stop", {}, blocking=True)
    await hass.services.async_call(DOMAIN, "restart", {}, blocking=True)
    assert hass.states.get(PROCESSING).state == "running"


@pytest.mark.usefixtures("mock_host_stats")
async def test_get_status(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> None:
    """The status document has the shape of the original /background/status."""
    await setup_integration(hass, mock_config_entry)
    await hass.services.async_call(DOMAIN, "stop", {}, blocking=True)
    response = await hass.services.async_call(
        DOMAIN, "get_status", {}, blocking=True, return_response=True
    )
    assert response["running"] is False
    assert response["startup_completed"] is True
    assert response["alerts_processed"] == 0
    assert response["cameras_processing"] == []
    assert response["monitors"] == {"host": "ok", "serial": {}}
    assert response["handlers"] == {}
    assert response["problems"] == []


async def test_services_without_entry(hass: HomeAssistant) -> None:
    """A call with no loaded entry raises a translated validation error."""
    assert await async_setup_component(hass, DOMAIN, {})
    for service in ("start", "stop", "restart"):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(DOMAIN, service, {}, blocking=True)
        assert err.value.translation_key == "not_loaded"
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN, "get_status", {}, blocking=True, return_response=True
        )


@pytest.mark.usefixtures("mock_host_stats")
async def test_bad_call_data(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> None:
    """Unknown fields are refused by the schema."""
    await setup_integration(hass, mock_config_entry)
    with pytest.raises(vol.MultipleInvalid, match="extra keys not allowed"):
        await hass.services.async_call(DOMAIN, "stop", {"bogus": 1}, blocking=True)


@pytest.mark.usefixtures("mock_host_stats")
async def test_detect_on_image_file(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, tmp_path
) -> None:
    """detect runs the bundled model on an allowed image and returns normalised boxes."""
    image = tmp_path / "astronaut.jpg"
    image.write_bytes(ASTRONAUT.read_bytes())
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    await setup_integration(hass, mock_config_entry)
    response = await hass.services.async_call(
        DOMAIN, "detect", {"image_path": str(image)}, blocking=True, return_response=True
    )
    assert (response["frame_width"], response["frame_height"]) == (512, 512)
    people = [d for d in response["detections"] if d["label"] == "person"]
    assert len(people) == 1
    assert people[0]["score"] >= 0.6
    box = people[0]["box"]
    # The astronaut fills the lower-middle of the picture.
    assert box["x"] < 0.3
    assert box["x"] + box["width"] > 0.6
    assert box["height"] > 0.6


@pytest.mark.usefixtures("mock_host_stats")
async def test_detect_refuses_bad_paths(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, tmp_path
) -> None:
    """Paths outside the allowed folders, traversal and non-images are refused."""
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    (tmp_path / "notes.txt").write_text("not an image")
    await setup_integration(hass, mock_config_entry)
    cases = {
        "/etc/passwd": "path_not_allowed",
        f"{tmp_path}/../../etc/passwd": "path_not_allowed",
        str(tmp_path / "notes.txt"): "unreadable_image",
        str(tmp_path / "missing.jpg"): "unreadable_image",
    }
    for path, key in cases.items():
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "detect", {"image_path": path}, blocking=True, return_response=True
            )
        assert err.value.translation_key == key, path
    with pytest.raises(vol.Invalid):
        await hass.services.async_call(DOMAIN, "detect", {}, blocking=True, return_response=True)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "detect", {"camera": "nope"}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "camera_not_found"


@pytest.mark.usefixtures("mock_host_stats")
async def test_detect_checks_off_the_loop_the_file_it_reads(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, tmp_path: Path
) -> None:
    """The path check runs in the executor, and a link swapped after it changes nothing."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    photo = allowed / "astronaut.jpg"
    photo.write_bytes(ASTRONAUT.read_bytes())
    private = tmp_path / "private"
    private.mkdir()
    other = private / "dog.jpg"
    other.write_bytes(DOG.read_bytes())
    link = allowed / "latest.jpg"
    link.symlink_to(photo)
    hass.config.allowlist_external_dirs = {str(allowed)}
    await setup_integration(hass, mock_config_entry)
    loop_thread = threading.current_thread()
    checked_in: list[threading.Thread] = []
    is_allowed = hass.config.is_allowed_path

    def check_then_swap(path: str) -> bool:
        checked_in.append(threading.current_thread())
        verdict = is_allowed(path)
        # Someone repoints the link between the check and the read.
        link.unlink()
        link.symlink_to(other)
        return verdict

    with patch.object(hass.config, "is_allowed_path", check_then_swap):
        response = await hass.services.async_call(
            DOMAIN, "detect", {"image_path": str(link)}, blocking=True, return_response=True
        )
    assert checked_in
    assert loop_thread not in checked_in
    # The file that was checked is the one that was read: the astronaut, not the dog.
    assert (response["frame_width"], response["frame_height"]) == (512, 512)
    assert {d["label"] for d in response["detections"]} == {"person"}

    # A link out of the allowed folder, and a pipe that would block a reader, are refused.
    link.unlink()
    link.symlink_to(other)
    fifo = allowed / "pipe.jpg"
    os.mkfifo(fifo)
    for path, key in ((link, "path_not_allowed"), (fifo, "unreadable_image")):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "detect", {"image_path": str(path)}, blocking=True, return_response=True
            )
        assert err.value.translation_key == key
