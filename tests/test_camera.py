"""The camera entity: the newest processed frame, with boxes while they are fresh."""

from __future__ import annotations

from pathlib import Path

import cv2
from homeassistant.components.camera import async_get_image
from homeassistant.core import HomeAssistant
import numpy as np
import pytest

from .camera_helpers import (
    camera_subentry,
    hub_entry,
    person_clip,
    static_clip,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("mock_host_stats")


async def test_camera_shows_latest_frame(hass: HomeAssistant, tmp_path: Path) -> None:
    """A quiet camera still shows its newest frame, at the source's size."""
    entry = hub_entry(camera_subentry("Yard", url=str(static_clip(tmp_path))))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    camera = next(iter(entry.runtime_data.cameras.values()))
    await wait_until(lambda: camera.latest_result is not None)

    image = await async_get_image(hass, "camera.yard")
    assert image.content_type == "image/jpeg"
    frame = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (360, 640, 3)
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_camera_draws_boxes(hass: HomeAssistant, tmp_path: Path) -> None:
    """While a person is tracked, the image carries the detector's box colour."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    entry = hub_entry(camera_subentry("Gate", url=str(person_clip(tmp_path))))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: hass.states.get("binary_sensor.gate_person_detected").state == "on")

    image = await async_get_image(hass, "camera.gate")
    frame = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
    # The box colour (BGR 0, 200, 255) does not occur in the test scene itself.
    box_pixels = np.all(np.abs(frame.astype(int) - (0, 200, 255)) < 40, axis=2)
    assert box_pixels.sum() > 200
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
