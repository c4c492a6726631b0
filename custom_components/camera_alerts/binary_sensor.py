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

from .coordinator import StatusCoordinator
from .entity import CameraAlertsEntity, hub_device_info
from .runtime import CameraAlertsConfigEntry

PARALLEL_UPDATES = 0

PROBLEM_DESCRIPTION = BinarySensorEntityDescription(
    key="problem",
    translation_key="problem",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CameraAlertsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the hub's problem sensor."""
    async_add_entities([ProblemBinarySensor(entry.runtime_data.status)])


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
