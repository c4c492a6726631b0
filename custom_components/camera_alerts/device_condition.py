"""Device conditions of Camera Alerts: "while this camera sees a person".

`object_present` holds while the camera tracks at least one object of the chosen label,
that is while its `<label> detected` binary sensor is on.
"""

from __future__ import annotations

from typing import Any, Final

from homeassistant.components.binary_sensor import DOMAIN as BINARY_SENSOR_DOMAIN
from homeassistant.const import (
    CONF_CONDITION,
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_TYPE,
    STATE_ON,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import (
    condition,
    config_validation as cv,
    entity_registry as er,
)
from homeassistant.helpers.typing import ConfigType, TemplateVarsType
import voluptuous as vol

from .const import DOMAIN
from .device_trigger import (
    CONF_LABEL,
    async_get_camera_device,
    async_require_camera,
    label_selector,
)

CONDITION_TYPES: Final = {"object_present"}

CONDITION_SCHEMA: Final = cv.DEVICE_CONDITION_BASE_SCHEMA.extend(
    {
        vol.Required(CONF_TYPE): vol.In(CONDITION_TYPES),
        vol.Required(CONF_LABEL): cv.string,
    }
)


async def async_validate_condition_config(
    hass: HomeAssistant, config: ConfigType
) -> ConfigType:
    """Validate a condition against the camera it names."""
    config = CONDITION_SCHEMA(config)
    async_require_camera(hass, config[CONF_DEVICE_ID], config[CONF_LABEL])
    return config


async def async_get_conditions(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, Any]]:
    """List the conditions of a camera device (none for other devices)."""
    if async_get_camera_device(hass, device_id) is None:
        return []
    return [
        {
            CONF_CONDITION: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: condition_type,
        }
        for condition_type in sorted(CONDITION_TYPES)
    ]


async def async_get_condition_capabilities(
    hass: HomeAssistant, config: ConfigType
) -> dict[str, vol.Schema]:
    """Offer the camera's watched labels."""
    camera = async_get_camera_device(hass, config[CONF_DEVICE_ID])
    if camera is None:
        return {}
    return {"extra_fields": vol.Schema({vol.Required(CONF_LABEL): label_selector(camera)})}


@callback
def async_condition_from_config(
    hass: HomeAssistant, config: ConfigType
) -> condition.ConditionCheckerType:
    """Check the label's presence sensor; looked up on each test so renames do not matter."""
    camera = async_require_camera(hass, config[CONF_DEVICE_ID], config[CONF_LABEL])
    unique_id = f"{camera.subentry_id}_present_{config[CONF_LABEL]}"

    @callback
    def test_object_present(hass: HomeAssistant, variables: TemplateVarsType) -> bool:
        """Return True while an object of the label is tracked."""
        entity_id = er.async_get(hass).async_get_entity_id(
            BINARY_SENSOR_DOMAIN, DOMAIN, unique_id
        )
        return entity_id is not None and hass.states.is_state(entity_id, STATE_ON)

    return test_object_present
