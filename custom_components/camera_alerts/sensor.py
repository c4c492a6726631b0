"""Sensors: host health and the hub's processing status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .camera_runtime import CameraRuntime
from .coordinator import CameraState, HostCoordinator, RuntimeStatus, StatusCoordinator
from .entity import (
    CameraAlertsCameraEntity,
    CameraAlertsEntity,
    CameraLabelEntity,
    async_add_camera_entities,
    host_device_info,
    hub_device_info,
)
from .handlers.mqtt import NOT_AVAILABLE as MQTT_NOT_AVAILABLE
from .host import HostStats
from .runtime import CameraAlertsConfigEntry
from .serial.board import ValueKind
from .serial_entity import (
    SerialErrors,
    SerialLastMessage,
    SerialValueSensor,
    async_setup_board_entities,
)

PARALLEL_UPDATES = 0

PROCESSING_RUNNING = "running"
PROCESSING_STOPPED = "stopped"


@dataclass(frozen=True, kw_only=True)
class HostSensorDescription(SensorEntityDescription):
    """A host sensor and how to read it from one reading."""

    value_fn: Callable[[HostStats], float | None]


@dataclass(frozen=True, kw_only=True)
class StatusSensorDescription(SensorEntityDescription):
    """A hub sensor and how to read it from the runtime status."""

    value_fn: Callable[[RuntimeStatus], StateType]


HOST_SENSORS: tuple[HostSensorDescription, ...] = (
    HostSensorDescription(
        key="cpu_usage",
        translation_key="cpu_usage",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.cpu_percent,
    ),
    HostSensorDescription(
        key="memory_usage",
        translation_key="memory_usage",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.memory_percent,
    ),
    HostSensorDescription(
        key="disk_usage",
        translation_key="disk_usage",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.disk_percent,
    ),
    HostSensorDescription(
        key="cpu_temperature",
        translation_key="cpu_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.cpu_temperature,
    ),
    HostSensorDescription(
        key="load_1m",
        translation_key="load_1m",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.load_1m,
    ),
)

STATUS_SENSORS: tuple[StatusSensorDescription, ...] = (
    StatusSensorDescription(
        key="processing",
        translation_key="processing",
        device_class=SensorDeviceClass.ENUM,
        options=[PROCESSING_RUNNING, PROCESSING_STOPPED],
        value_fn=lambda status: (
            PROCESSING_RUNNING if status.running else PROCESSING_STOPPED
        ),
    ),
    StatusSensorDescription(
        key="alerts_processed",
        translation_key="alerts_processed",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda status: status.alerts_processed,
    ),
)


@dataclass(frozen=True, kw_only=True)
class CameraSensorDescription(SensorEntityDescription):
    """A camera sensor and how to read it from the camera state."""

    value_fn: Callable[[CameraState], StateType]


CAMERA_SENSORS: tuple[CameraSensorDescription, ...] = (
    CameraSensorDescription(
        key="inference_time",
        translation_key="inference_time",
        entity_registry_enabled_default=False,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.inference_ms,
    ),
    CameraSensorDescription(
        key="processed_fps",
        translation_key="processed_fps",
        entity_registry_enabled_default=False,
        native_unit_of_measurement="fps",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.processed_fps,
    ),
    CameraSensorDescription(
        key="skipped_frames",
        translation_key="skipped_frames",
        entity_registry_enabled_default=False,
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.skipped_frames,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CameraAlertsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the host and hub sensors."""
    runtime = entry.runtime_data
    async_add_entities(
        HostSensor(runtime.host, description) for description in HOST_SENSORS
    )
    async_add_entities(
        StatusSensor(runtime.status, description) for description in STATUS_SENSORS
    )
    async_add_entities(
        SinkSensor(runtime.status, sink.name) for sink in runtime.dispatcher.sinks
    )
    async_setup_board_entities(
        entry,
        async_add_entities,
        lambda board: (SerialLastMessage(board), SerialErrors(board)),
        lambda board, key: (
            None if key.kind is ValueKind.BINARY else SerialValueSensor(board, key)
        ),
    )
    async_add_camera_entities(
        entry,
        async_add_entities,
        lambda camera: [
            *(CameraSensor(camera, description) for description in CAMERA_SENSORS),
            *(ObjectCountSensor(camera, label) for label in camera.labels),
        ],
    )


class HostSensor(CameraAlertsEntity[HostCoordinator], SensorEntity):
    """One figure of the host's health."""

    entity_description: HostSensorDescription

    def __init__(
        self, coordinator: HostCoordinator, description: HostSensorDescription
    ) -> None:
        """Attach the sensor to the host device."""
        super().__init__(
            coordinator,
            description,
            host_device_info(coordinator.config_entry),
            f"{coordinator.config_entry.entry_id}_host_{description.key}",
        )

    @property
    def available(self) -> bool:
        """Unavailable when polling fails or the host lacks this sensor."""
        return (
            super().available
            and self.entity_description.value_fn(self.coordinator.data) is not None
        )

    @property
    def native_value(self) -> float | None:
        """Return the latest reading."""
        return self.entity_description.value_fn(self.coordinator.data)


class StatusSensor(CameraAlertsEntity[StatusCoordinator], SensorEntity):
    """One figure of the hub's processing status."""

    entity_description: StatusSensorDescription

    def __init__(
        self, coordinator: StatusCoordinator, description: StatusSensorDescription
    ) -> None:
        """Attach the sensor to the hub device."""
        super().__init__(
            coordinator,
            description,
            hub_device_info(coordinator.config_entry),
            f"{coordinator.config_entry.entry_id}_{description.key}",
        )

    @property
    def native_value(self) -> StateType:
        """Return the current value."""
        return self.entity_description.value_fn(self.coordinator.data)


class CameraSensor(CameraAlertsCameraEntity, SensorEntity):
    """A processing figure of one camera."""

    entity_description: CameraSensorDescription

    @property
    def native_value(self) -> StateType:
        """Return the latest figure."""
        return self.entity_description.value_fn(self.coordinator.data)


class ObjectCountSensor(CameraLabelEntity, SensorEntity):
    """How many objects of one label the camera tracks right now."""

    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_translation_key = "object_count"

    def __init__(self, camera: CameraRuntime, label: str) -> None:
        """Attach to the camera, one sensor per watched label."""
        super().__init__(camera, label, SensorEntityDescription(key=f"count_{label}"))

    @property
    def native_value(self) -> int:
        """Return the number of tracked objects with this label."""
        return self.coordinator.data.counts.get(self.label, 0)


SINK_CONNECTED = "connected"
SINK_DISCONNECTED = "disconnected"
SINK_NOT_AVAILABLE = "not_available"


class SinkSensor(CameraAlertsEntity[StatusCoordinator], SensorEntity):
    """Health of one sink, with its counters as attributes."""

    _attr_device_class = SensorDeviceClass.ENUM
    _attr_options: list[str] | None = [SINK_CONNECTED, SINK_DISCONNECTED, SINK_NOT_AVAILABLE]  # noqa: RUF012
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    # Counters change with every event: keep them out of the recorder.
    _unrecorded_attributes = frozenset(
        {"sent", "failed", "queued", "dropped", "last_error", "last_error_time"}
    )

    def __init__(self, coordinator: StatusCoordinator, sink: str) -> None:
        """Attach the sensor of one sink to the hub device."""
        super().__init__(
            coordinator,
            SensorEntityDescription(key=f"sink_{sink}", translation_key=f"sink_{sink}"),
            hub_device_info(coordinator.config_entry),
            f"{coordinator.config_entry.entry_id}_sink_{sink}",
        )
        self.sink = sink

    @property
    def _status(self) -> dict[str, Any]:
        return self.coordinator.data.sinks.get(self.sink, {})

    @property
    def native_value(self) -> str:
        """Return connected, disconnected or not_available (MQTT not set up)."""
        status = self._status
        if status.get("connected"):
            return SINK_CONNECTED
        if status.get("last_error") == MQTT_NOT_AVAILABLE:
            return SINK_NOT_AVAILABLE
        return SINK_DISCONNECTED

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the sink's counters and last error (secrets already removed)."""
        status = self._status
        return {
            key: status.get(key)
            for key in ("sent", "failed", "queued", "dropped", "last_error", "last_error_time")
        }
