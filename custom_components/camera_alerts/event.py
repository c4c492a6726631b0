"""Event entities: one per camera, firing on every tracked-object lifecycle step."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camera_runtime import CameraRuntime
from .entity import CameraAlertsCameraEntity, async_add_camera_entities
from .models import DetectionEvent, EventType
from .runtime import CameraAlertsConfigEntry

PARALLEL_UPDATES = 0

DESCRIPTION = EventEntityDescription(
    key="detection",
    translation_key="detection",
    event_types=[str(event_type) for event_type in EventType],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CameraAlertsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one detection event entity per camera subentry."""
    async_add_camera_entities(entry, async_add_entities, lambda camera: [DetectionEventEntity(camera)])


class DetectionEventEntity(CameraAlertsCameraEntity, EventEntity):
    """Fires `new`, `update` and `end` for the objects this camera tracks."""

    def __init__(self, camera: CameraRuntime) -> None:
        """Attach to the camera."""
        super().__init__(camera, DESCRIPTION)

    async def async_added_to_hass(self) -> None:
        """Listen to the camera's detection events."""
        await super().async_added_to_hass()
        self.async_on_remove(self.camera.async_add_event_listener(self._on_event))

    @callback
    def _on_event(self, event: DetectionEvent) -> None:
        data = event.as_dict()
        # Keep the recorded state small: the snapshot path and box, no image bytes.
        self._trigger_event(
            str(event.type),
            {
                "label": data["label"],
                "score": data["score"],
                "track_id": data["track_id"],
                "event_id": data["event_id"],
                "box": data["box"],
                "zones": data["zones"],
                "snapshot": data["snapshot"],
            },
        )
        self.async_write_ha_state()
