"""Services: start, stop and restart processing, and report its status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
import homeassistant.helpers.config_validation as cv
import voluptuous as vol

from .const import (
    ATTR_BOARD,
    ATTR_CAMERA,
    ATTR_IMAGE_PATH,
    ATTR_LINE,
    ATTR_MIN_SCORE,
    DOMAIN,
    SERVICE_DETECT,
    SERVICE_GET_STATUS,
    SERVICE_RESTART,
    SERVICE_SEND_SERIAL,
    SERVICE_START,
    SERVICE_STOP,
)
from .runtime import CameraAlertsConfigEntry, CameraAlertsRuntime

CONTROL_SCHEMA = vol.Schema({vol.Optional(ATTR_CAMERA): cv.string})
STATUS_SCHEMA = vol.Schema({})
SEND_SERIAL_SCHEMA = vol.Schema(
    {vol.Required(ATTR_BOARD): cv.string, vol.Required(ATTR_LINE): cv.string}
)
DETECT_SCHEMA = vol.All(
    vol.Schema(
        {
            vol.Exclusive(ATTR_CAMERA, "source"): cv.string,
            vol.Exclusive(ATTR_IMAGE_PATH, "source"): cv.string,
            vol.Optional(ATTR_MIN_SCORE, default=0.5): vol.All(
                vol.Coerce(float), vol.Range(min=0.05, max=1.0)
            ),
        }
    ),
    cv.has_at_least_one_key(ATTR_CAMERA, ATTR_IMAGE_PATH),
)


def _runtime(hass: HomeAssistant) -> CameraAlertsRuntime:
    """Return the loaded entry's runtime, or explain that none is loaded."""
    entries: list[CameraAlertsConfigEntry] = hass.config_entries.async_loaded_entries(
        DOMAIN
    )
    if not entries:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="not_loaded"
        )
    return entries[0].runtime_data


def _control(
    action: Callable[[CameraAlertsRuntime, str | None], Awaitable[None]],
) -> Callable[[ServiceCall], Coroutine[Any, Any, None]]:
    async def handle(call: ServiceCall) -> None:
        runtime = _runtime(call.hass)
        await action(runtime, call.data.get(ATTR_CAMERA))

    return handle


async def _async_get_status(call: ServiceCall) -> ServiceResponse:
    return _runtime(call.hass).status_document()


async def _async_send_serial(call: ServiceCall) -> None:
    await _runtime(call.hass).async_send_serial(call.data[ATTR_BOARD], call.data[ATTR_LINE])


async def _async_detect(call: ServiceCall) -> ServiceResponse:
    return await _runtime(call.hass).async_detect(
        call.data.get(ATTR_CAMERA),
        call.data.get(ATTR_IMAGE_PATH),
        call.data[ATTR_MIN_SCORE],
    )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's services."""
    controls: dict[str, Callable[[CameraAlertsRuntime, str | None], Awaitable[None]]] = {
        SERVICE_START: CameraAlertsRuntime.async_start,
        SERVICE_STOP: CameraAlertsRuntime.async_stop,
        SERVICE_RESTART: CameraAlertsRuntime.async_restart,
    }
    for service, action in controls.items():
        hass.services.async_register(
            DOMAIN, service, _control(action), schema=CONTROL_SCHEMA
        )
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_STATUS,
        _async_get_status,
        schema=STATUS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_SEND_SERIAL, _async_send_serial, schema=SEND_SERIAL_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_DETECT,
        _async_detect,
        schema=DETECT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
