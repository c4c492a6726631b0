"""Config flow for Camera Alerts: the hub entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
)
import voluptuous as vol

from .camera_flow import CameraSubentryFlow
from .const import (
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    DEFAULT_INFERENCE_THREADS,
    DOMAIN,
    LOGGER,
    SUBENTRY_CAMERA,
    SUBENTRY_SERIAL,
)
from .inference import (
    BackendUnavailableError,
    DetectorError,
    ModelNotFoundError,
    UnsupportedModelError,
    load_detector,
)
from .options_flow import CameraAlertsOptionsFlow
from .serial_flow import SerialSubentryFlow

TITLE = "Camera Alerts"


def _hub_schema(defaults: dict[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Optional(
                CONF_MODEL_PATH,
                description={"suggested_value": defaults.get(CONF_MODEL_PATH, "")},
            ): TextSelector(),
            vol.Required(
                CONF_INFERENCE_THREADS,
                default=defaults.get(CONF_INFERENCE_THREADS, DEFAULT_INFERENCE_THREADS),
            ): NumberSelector(
                NumberSelectorConfig(min=1, max=8, step=1, mode=NumberSelectorMode.BOX)
            ),
        }
    )


def model_path_allowed(hass: HomeAssistant, model_path: str) -> bool:
    """Models load from the config folder or a folder the user allowed, nowhere else."""
    path = Path(model_path)
    if not path.is_absolute():
        return False
    config_dir = Path(hass.config.config_dir).resolve()
    resolved = path.resolve()
    return resolved.is_relative_to(config_dir) or hass.config.is_allowed_path(str(resolved))


def _model_error(hass: HomeAssistant, model_path: str) -> str | None:
    """Check where a user model is and try to load it; blocking (file system)."""
    if not model_path:
        return None
    if not model_path_allowed(hass, model_path):
        return "path_not_allowed"
    try:
        load_detector(model_path, warmup=False)
    except ModelNotFoundError:
        return "model_not_found"
    except BackendUnavailableError as err:
        LOGGER.warning("The local detector cannot run here: %s", err)
        return "local_backend_unavailable"
    except UnsupportedModelError as err:
        LOGGER.warning("Model %s is not supported: %s", model_path, err)
        return "unsupported_model"
    except DetectorError as err:
        LOGGER.warning("Model %s cannot be loaded: %s", model_path, err)
        return "invalid_model"
    return None


class CameraAlertsConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up the Camera Alerts hub."""

    VERSION = 1

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Cameras and serial boards are added to the hub as subentries."""
        return {SUBENTRY_CAMERA: CameraSubentryFlow, SUBENTRY_SERIAL: SerialSubentryFlow}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Sinks are set in the options."""
        return CameraAlertsOptionsFlow()

    async def _async_validate(
        self, user_input: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        model_path = str(user_input.get(CONF_MODEL_PATH) or "").strip()
        data: dict[str, Any] = {
            CONF_MODEL_PATH: model_path,
            CONF_INFERENCE_THREADS: int(user_input[CONF_INFERENCE_THREADS]),
        }
        errors: dict[str, str] = {}
        if error := await self.hass.async_add_executor_job(
            _model_error, self.hass, model_path
        ):
            errors[CONF_MODEL_PATH] = error
        return data, errors

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create the hub."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = await self._async_validate(user_input)
            if not errors:
                return self.async_create_entry(title=TITLE, data=data)
        return self.async_show_form(
            step_id="user",
            data_schema=_hub_schema(user_input or {}),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the detector settings of the hub."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = await self._async_validate(user_input)
            if not errors:
                # The entry's update listener reloads it with the new data; the
                # flow's own reload helpers would reload it a second time.
                self.hass.config_entries.async_update_entry(entry, data=data)
                return self.async_abort(reason="reconfigure_successful")
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_hub_schema(user_input or dict(entry.data)),
            errors=errors,
        )
