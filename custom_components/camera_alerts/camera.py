"""Camera entities: the latest processed frame of each camera with its boxes."""

from __future__ import annotations

from homeassistant.components.camera import Camera, CameraEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camera_runtime import CameraRuntime
from .entity import CameraAlertsCameraEntity, async_add_camera_entities
from .runtime import CameraAlertsConfigEntry

PARALLEL_UPDATES = 0

# The camera is the device's main feature, so it takes the device's name.
DESCRIPTION = CameraEntityDescription(key="annotated", name=None)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CameraAlertsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one camera entity per camera subentry."""
    async_add_camera_entities(entry, async_add_entities, lambda camera: [AnnotatedCamera(camera)])


class AnnotatedCamera(CameraAlertsCameraEntity, Camera):
    """The latest processed frame, with what the detector found drawn on it."""

    # HA's Camera declares its description type (from 2026.4).
    entity_description: CameraEntityDescription

    def __init__(self, camera: CameraRuntime) -> None:
        """Initialise both bases."""
        CameraAlertsCameraEntity.__init__(self, camera, DESCRIPTION)
        Camera.__init__(self)
        self.content_type = "image/jpeg"

    async def async_added_to_hass(self) -> None:
        """Tell the camera runtime which entity its events name."""
        await super().async_added_to_hass()
        self.camera.camera_entity_id = self.entity_id

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """Encode the latest processed frame (only when someone asks)."""
        return await self.camera.async_snapshot_jpeg()
