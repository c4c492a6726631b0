"""Switches: detection on or off, per camera."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camera_runtime import CameraRuntime
from .entity import CameraAlertsCameraEntity, async_add_camera_entities
from .runtime import CameraAlertsConfigEntry

PARALLEL_UPDATES = 1

DESCRIPTION = SwitchEntityDescription(key="detection", translation_key="detection")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CameraAlertsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one detection switch per camera subentry."""
    async_add_camera_entities(entry, async_add_entities, lambda camera: [DetectionSwitch(camera)])


class DetectionSwitch(CameraAlertsCameraEntity, SwitchEntity):
    """Turns a camera's processing on or off."""

    def __init__(self, camera: CameraRuntime) -> None:
        """Attach to the camera."""
        super().__init__(camera, DESCRIPTION)

    @property
    def available(self) -> bool:
        """A stopped camera must stay switchable."""
        return self.coordinator.last_update_success

    @property
    def is_on(self) -> bool:
        """Return True while the camera is processed."""
        return self.coordinator.data.enabled

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start detection on this camera."""
        await self.camera.async_start()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop detection on this camera."""
        await self.camera.async_stop()
