"""Device triggers of Camera Alerts: "when this camera detects a person".

Each camera device offers three triggers, one per step of a tracked object's life:
`object_detected` (event type `new`), `object_updated` (`update`) and `object_gone`
(`end`). An optional `label` narrows a trigger to one of the camera's watched objects.
They are event triggers on the `camera_alerts_detection` bus event, filtered on the
camera's name (which never changes after the camera is added), the type and the label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.device_automation.exceptions import (
    InvalidDeviceAutomationConfig,
)
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType
import voluptuous as vol

from .const import CONF_LABELS, CONF_NAME, DOMAIN, EVENT_DETECTION, SUBENTRY_CAMERA

CONF_LABEL: Final = "label"

# Trigger type -> the `type` of the detection event it fires on.
TRIGGER_EVENT_TYPES: Final = {
    "object_detected": "new",
    "object_updated": "update",
    "object_gone": "end",
}

TRIGGER_SCHEMA: Final = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {
        vol.Required(CONF_TYPE): vol.In(TRIGGER_EVENT_TYPES),
        vol.Optional(CONF_LABEL): cv.string,
    }
)


@dataclass(frozen=True, slots=True)
class CameraDevice:
    """What device automations need to know about one camera device."""

    subentry_id: str
    name: str
    labels: tuple[str, ...]


@callback
def async_get_camera_device(hass: HomeAssistant, device_id: str) -> CameraDevice | None:
    """Return the camera behind a device, or None for any other device.

    A camera device is identified by `(DOMAIN, subentry_id)` of a camera subentry of a
    Camera Alerts entry; the hub, host and serial board devices are not cameras. The
    identifier finds the subentry, so nothing here reads the device's config entries
    (`DeviceEntry.config_entries*`, deprecated in HA 2026.10).
    """
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return None
    for domain, subentry_id in device.identifiers:
        if domain != DOMAIN:
            continue
        for entry in hass.config_entries.async_entries(DOMAIN):
            subentry: ConfigSubentry | None = entry.subentries.get(subentry_id)
            if subentry is None or subentry.subentry_type != SUBENTRY_CAMERA:
                continue
            return CameraDevice(
                subentry_id=subentry_id,
                name=str(subentry.data[CONF_NAME]),
                labels=tuple(str(label) for label in subentry.data.get(CONF_LABELS, ())),
            )
    return None


@callback
def async_require_camera(
    hass: HomeAssistant, device_id: str, label: str | None
) -> CameraDevice:
    """Return the camera behind a device; raise when it is none or does not watch `label`."""
    camera = async_get_camera_device(hass, device_id)
    if camera is None:
        raise InvalidDeviceAutomationConfig(
            translation_domain=DOMAIN,
            translation_key="not_a_camera",
            translation_placeholders={"device_id": device_id},
        )
    if label is not None and label not in camera.labels:
        raise InvalidDeviceAutomationConfig(
            translation_domain=DOMAIN,
            translation_key="label_not_watched",
            translation_placeholders={
                "camera": camera.name,
                "label": label,
                "labels": ", ".join(camera.labels) or "-",
            },
        )
    return camera


def label_selector(camera: CameraDevice) -> SelectSelector:
    """Return a drop-down of the camera's watched labels."""
    return SelectSelector(
        SelectSelectorConfig(
            options=list(camera.labels),
            mode=SelectSelectorMode.DROPDOWN,
            sort=True,
        )
    )


async def async_validate_trigger_config(
    hass: HomeAssistant, config: ConfigType
) -> ConfigType:
    """Validate a trigger against the camera it names."""
    config = TRIGGER_SCHEMA(config)
    async_require_camera(hass, config[CONF_DEVICE_ID], config.get(CONF_LABEL))
    return config


async def async_get_triggers(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, Any]]:
    """List the triggers of a camera device (none for other devices)."""
    if async_get_camera_device(hass, device_id) is None:
        return []
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: trigger_type,
        }
        for trigger_type in TRIGGER_EVENT_TYPES
    ]


async def async_get_trigger_capabilities(
    hass: HomeAssistant, config: ConfigType
) -> dict[str, vol.Schema]:
    """Offer the camera's watched labels; without one the trigger fires for any."""
    camera = async_get_camera_device(hass, config[CONF_DEVICE_ID])
    if camera is None:
        return {}
    return {"extra_fields": vol.Schema({vol.Optional(CONF_LABEL): label_selector(camera)})}


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the camera's detection events of the trigger's type (and label)."""
    label: str | None = config.get(CONF_LABEL)
    camera = async_require_camera(hass, config[CONF_DEVICE_ID], label)
    event_data: dict[str, str] = {
        "camera": camera.name,
        "type": TRIGGER_EVENT_TYPES[config[CONF_TYPE]],
    }
    if label is not None:
        event_data[CONF_LABEL] = label
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: CONF_EVENT,
            event_trigger.CONF_EVENT_TYPE: EVENT_DETECTION,
            CONF_EVENT_DATA: event_data,
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
