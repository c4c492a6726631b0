"""Base entities of Camera Alerts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import (
    CoordinatorEntity,
    DataUpdateCoordinator,
)

from .camera_runtime import CameraRuntime, camera_added_signal
from .const import DOMAIN
from .coordinator import CameraCoordinator
from .runtime import CameraAlertsConfigEntry

# HA 2026.8 added `via_device_id` (the parent's device id) and 2026.9 deprecated
# `via_device` (its identifier): reported when HA cannot tell which integration
# added the device, which makes HA refuse the entity. Older releases know only
# `via_device`, so the field HA has decides.
VIA_DEVICE_ID: Final = "via_device_id" in DeviceInfo.__optional_keys__


def _via_hub(entry: CameraAlertsConfigEntry, info: DeviceInfo) -> DeviceInfo:
    """Name the hub as the parent of the device `info` describes."""
    if VIA_DEVICE_ID:
        info["via_device_id"] = entry.runtime_data.hub_device_id  # type: ignore[typeddict-unknown-key,unused-ignore]
    else:
        info["via_device"] = (DOMAIN, entry.entry_id)
    return info


def hub_device_info(entry: CameraAlertsConfigEntry) -> DeviceInfo:
    """Describe the hub device: the integration's processing core."""
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.title,
        manufacturer="Camera Alerts",
        model="Detection hub",
        entry_type=DeviceEntryType.SERVICE,
    )


def host_device_info(entry: CameraAlertsConfigEntry) -> DeviceInfo:
    """Describe the host device whose health is reported."""
    return _via_hub(
        entry,
        DeviceInfo(
            identifiers={(DOMAIN, f"{entry.entry_id}_host")},
            translation_key="host",
            manufacturer="Camera Alerts",
            model="Host monitor",
            entry_type=DeviceEntryType.SERVICE,
        ),
    )


class CameraAlertsEntity[CoordinatorT: DataUpdateCoordinator[Any]](
    CoordinatorEntity[CoordinatorT]
):
    """An entity fed by one of the entry's coordinators."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: CoordinatorT,
        description: EntityDescription,
        device_info: DeviceInfo,
        unique_id: str,
    ) -> None:
        """Attach the entity to its device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_device_info = device_info
        self._attr_unique_id = unique_id


def camera_device_info(
    entry: CameraAlertsConfigEntry, camera: CameraRuntime
) -> DeviceInfo:
    """Describe the device of one camera subentry."""
    return _via_hub(
        entry,
        DeviceInfo(
            identifiers={(DOMAIN, camera.subentry.subentry_id)},
            name=camera.name,
            manufacturer="Camera Alerts",
            model="Camera detector",
        ),
    )


class CameraAlertsCameraEntity(CameraAlertsEntity[CameraCoordinator]):
    """An entity of one camera device; unavailable while the camera is down."""

    def __init__(self, camera: CameraRuntime, description: EntityDescription) -> None:
        """Attach the entity to the camera's device."""
        super().__init__(
            camera.coordinator,
            description,
            camera_device_info(camera.entry, camera),
            f"{camera.subentry.subentry_id}_{description.key}",
        )
        self.camera = camera

    @property
    def available(self) -> bool:
        """Available while the camera delivers frames."""
        return super().available and self.coordinator.data.connected


class CameraLabelEntity(CameraAlertsCameraEntity):
    """An entity about one watched label of a camera (presence, count)."""

    def __init__(
        self, camera: CameraRuntime, label: str, description: EntityDescription
    ) -> None:
        """Attach to the camera; the label names the entity."""
        super().__init__(camera, description)
        self.label = label
        self._attr_translation_placeholders = {"label": label}

    @property
    def available(self) -> bool:
        """Unavailable while detection fails: "not detected" would be a guess."""
        data = self.coordinator.data
        return (
            super().available
            and data.detector_error is None
            and data.processing_error is None
        )


def async_add_camera_entities(
    entry: CameraAlertsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    build: Callable[[CameraRuntime], Iterable[Entity]],
) -> None:
    """Add each camera's entities to that camera's subentry, now and when one starts late."""

    @callback
    def add(camera: CameraRuntime) -> None:
        async_add_entities(
            list(build(camera)), config_subentry_id=camera.subentry.subentry_id
        )

    for camera in entry.runtime_data.cameras.values():
        add(camera)
    entry.async_on_unload(
        async_dispatcher_connect(
            entry.runtime_data.hass, camera_added_signal(entry.entry_id), add
        )
    )
