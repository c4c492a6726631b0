"""Binary sensors: the hub's problem indicator (the original /background/health)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camera_runtime import CameraRuntime
from .coordinator import StatusCoordinator
from .entity import (
    CameraAlertsCameraEntity,
    CameraAlertsEntity,
    CameraLabelEntity,
    async_add_camera_entities,
    hub_device_info,
)
from .runtime import CameraAlertsConfigEntry
from .serial.board import ValueKind
from .serial_entity import (
    SerialConnectivity,
    SerialValueBinarySensor,
    async_setup_board_entities,
)

PARALLEL_UPDATES = 0

PROBLEM_DESCRIPTION = BinarySensorEntityDescription(
    key="problem",
    translation_key="problem",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
)

CONNECTIVITY_DESCRIPTION = BinarySensorEntityDescription(
    key="connectivity",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)
MOTION_DESCRIPTION = BinarySensorEntityDescription(
    key="motion",
    device_class=BinarySensorDeviceClass.MOTION,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CameraAlertsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the hub's problem sensor and each camera's binary sensors."""
    runtime = entry.runtime_data
    async_add_entities([ProblemBinarySensor(runtime.status)])
    async_setup_board_entities(
        entry,
        async_add_entities,
        lambda board: (SerialConnectivity(board),),
        lambda board, key: (
            SerialValueBinarySensor(board, key) if key.kind is ValueKind.BINARY else None
        ),
    )
    async_add_camera_entities(
        entry,
        async_add_entities,
        lambda camera: [
            ConnectivityBinarySensor(camera),
            MotionBinarySensor(camera),
            *(ObjectPresenceBinarySensor(camera, label) for label in camera.labels),
        ],
    )


class ProblemBinarySensor(CameraAlertsEntity[StatusCoordinator], BinarySensorEntity):
    """On while any part of the integration is unhealthy."""

    def __init__(self, coordinator: StatusCoordinator) -> None:
        """Attach the sensor to the hub device."""
        super().__init__(
            coordinator,
            PROBLEM_DESCRIPTION,
            hub_device_info(coordinator.config_entry),
            f"{coordinator.config_entry.entry_id}_{PROBLEM_DESCRIPTION.key}",
        )

    @property
    def is_on(self) -> bool:
        """Return True when something is wrong."""
        return bool(self.coordinator.data.problems)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Say which parts are unhealthy."""
        return {"problems": list(self.coordinator.data.problems)}


class ConnectivityBinarySensor(CameraAlertsCameraEntity, BinarySensorEntity):
    """On while the camera delivers frames; stays available to say it does not."""

    def __init__(self, camera: CameraRuntime) -> None:
        """Attach to the camera."""
        super().__init__(camera, CONNECTIVITY_DESCRIPTION)

    @property
    def available(self) -> bool:
        """Always report, especially when the camera is down."""
        return self.coordinator.last_update_success

    @property
    def is_on(self) -> bool:
        """Return True while connected."""
        return self.coordinator.data.connected

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Say why the camera is down, without credentials."""
        return {"last_error": self.coordinator.data.last_error}


class MotionBinarySensor(CameraAlertsCameraEntity, BinarySensorEntity):
    """On while the motion gate sees motion."""

    def __init__(self, camera: CameraRuntime) -> None:
        """Attach to the camera."""
        super().__init__(camera, MOTION_DESCRIPTION)

    @property
    def is_on(self) -> bool:
        """Return True while there is motion."""
        return self.coordinator.data.motion


class ObjectPresenceBinarySensor(CameraLabelEntity, BinarySensorEntity):
    """On while at least one object of a label is tracked."""

    _attr_device_class = BinarySensorDeviceClass.OCCUPANCY
    _attr_translation_key = "object_present"

    def __init__(self, camera: CameraRuntime, label: str) -> None:
        """Attach to the camera, one sensor per watched label."""
        super().__init__(
            camera, label, BinarySensorEntityDescription(key=f"present_{label}")
        )

    @property
    def is_on(self) -> bool:
        """Return True while an object with this label is tracked."""
        return self.coordinator.data.counts.get(self.label, 0) > 0
