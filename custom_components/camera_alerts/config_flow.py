"""Config flow for Camera Alerts: the hub entry."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
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
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .camera_flow import CameraSubentryFlow
from .const import (
    BACKEND_DEEPSTACK,
    BACKEND_REMOTE,
    BACKENDS,
    CONF_API_KEY,
    CONF_BACKEND,
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    CONF_REMOTE_MODEL,
    CONF_REMOTE_URL,
    DEFAULT_BACKEND,
    DEFAULT_INFERENCE_THREADS,
    DOMAIN,
    LOGGER,
    SERVER_BACKENDS,
    SUBENTRY_CAMERA,
    SUBENTRY_SERIAL,
)
from .engines import (
    FLOW_REMOTE_TIMEOUT,
    async_load_entry_detector,
    backend_of,
    remote_url_problem,
)
from .inference import (
    BackendUnavailableError,
    DetectorError,
    ModelNotFoundError,
    RemoteServerError,
    UnsupportedModelError,
)
from .options_flow import CameraAlertsOptionsFlow
from .serial_flow import SerialSubentryFlow

TITLE = "Camera Alerts"


def _hub_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(
                CONF_BACKEND, default=defaults.get(CONF_BACKEND, DEFAULT_BACKEND)
            ): SelectSelector(
                SelectSelectorConfig(
                    options=list(BACKENDS),
                    mode=SelectSelectorMode.LIST,
                    translation_key=CONF_BACKEND,
                )
            ),
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


def _remote_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(
                CONF_REMOTE_URL, default=defaults.get(CONF_REMOTE_URL, vol.UNDEFINED)
            ): TextSelector(TextSelectorConfig(type=TextSelectorType.URL)),
            vol.Required(
                CONF_REMOTE_MODEL,
                default=defaults.get(CONF_REMOTE_MODEL, vol.UNDEFINED),
            ): TextSelector(),
        }
    )


def model_path_allowed(hass: HomeAssistant, model_path: str) -> bool:
    """Models load from the config folder or a folder the user allowed, nowhere else."""
    path = Path(model_path)
    if not path.is_absolute():
        return False
    config_dir = Path(hass.config.config_dir).resolve()
    resolved = path.resolve()
    return resolved.is_relative_to(config_dir) or hass.config.is_allowed_path(
        str(resolved)
    )


def _detector_error(err: DetectorError, what: str) -> str:
    """Return the flow error for a detector that did not load, logged with its detail."""
    if isinstance(err, ModelNotFoundError):
        return "model_not_found"
    if isinstance(err, BackendUnavailableError):
        LOGGER.warning("The local detector cannot run here: %s", err)
        return "local_backend_unavailable"
    if isinstance(err, RemoteServerError):
        LOGGER.warning("Inference server check failed: %s", err)
        return "remote_cannot_connect"
    if isinstance(err, UnsupportedModelError):
        LOGGER.warning("%s is not supported: %s", what, err)
        return "unsupported_model"
    LOGGER.warning("%s cannot be loaded: %s", what, err)
    return "invalid_model"


class CameraAlertsConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up the Camera Alerts hub."""

    VERSION = 1

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Cameras and serial boards are added to the hub as subentries."""
        return {
            SUBENTRY_CAMERA: CameraSubentryFlow,
            SUBENTRY_SERIAL: SerialSubentryFlow,
        }

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Sinks are set in the options."""
        return CameraAlertsOptionsFlow()

    def __init__(self) -> None:
        """Start with no hub settings; the remote step adds to the first step's."""
        self._data: dict[str, Any] = {}

    async def _async_check_detector(
        self, data: dict[str, Any]
    ) -> tuple[str, str, str] | None:
        """Load the detector these settings describe.

        Returns the failing field, the error key and its detail, or None.
        """
        backend = backend_of(data)
        field = CONF_REMOTE_URL if backend in SERVER_BACKENDS else "base"
        if backend in SERVER_BACKENDS:
            if remote_url_problem(data[CONF_REMOTE_URL]):
                return CONF_REMOTE_URL, "invalid_remote_url", ""
            options: dict[str, Any] = {
                # An OIP server is asked for the model's metadata anyway; a
                # DeepStack server is only proven (and its key) by one request.
                "warmup": backend == BACKEND_DEEPSTACK,
                "timeout": FLOW_REMOTE_TIMEOUT,
                "retries": 0,
            }
        else:
            model_path = data[CONF_MODEL_PATH]
            if model_path:
                field = CONF_MODEL_PATH
                if not await self.hass.async_add_executor_job(
                    model_path_allowed, self.hass, model_path
                ):
                    return field, "path_not_allowed", ""
            options = {"warmup": False}
        try:
            await async_load_entry_detector(self.hass, data, **options)
        except BackendUnavailableError as err:
            return "base", _detector_error(err, ""), str(err)
        except DetectorError as err:
            what = (
                data.get(CONF_REMOTE_MODEL) or data.get(CONF_MODEL_PATH) or "The model"
            )
            return field, _detector_error(err, what), str(err)
        return None

    async def _async_hub_step(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        defaults: Mapping[str, Any],
    ) -> ConfigFlowResult:
        """Show and check the first step of set-up and reconfigure: backend, model, threads."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            self._data = {
                CONF_BACKEND: user_input[CONF_BACKEND],
                CONF_MODEL_PATH: str(user_input.get(CONF_MODEL_PATH) or "").strip(),
                CONF_INFERENCE_THREADS: int(user_input[CONF_INFERENCE_THREADS]),
            }
            if self._data[CONF_BACKEND] == BACKEND_REMOTE:
                return await self.async_step_remote()
            if self._data[CONF_BACKEND] == BACKEND_DEEPSTACK:
                return await self.async_step_deepstack()
            if problem := await self._async_check_detector(self._data):
                field, errors[field], placeholders["error"] = problem
            else:
                return self._async_finish()
        return self.async_show_form(
            step_id=step_id,
            data_schema=_hub_schema(user_input or defaults),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_remote(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where the inference server is and which of its models to use."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        defaults: Mapping[str, Any] = user_input or {}
        if self.source == SOURCE_RECONFIGURE and user_input is None:
            defaults = self._get_reconfigure_entry().data
        if user_input is not None:
            self._data[CONF_REMOTE_URL] = str(user_input[CONF_REMOTE_URL]).strip()
            self._data[CONF_REMOTE_MODEL] = str(user_input[CONF_REMOTE_MODEL]).strip()
            if problem := await self._async_check_detector(self._data):
                field, errors[field], placeholders["error"] = problem
            else:
                return self._async_finish()
        return self.async_show_form(
            step_id="remote",
            data_schema=_remote_schema(defaults),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_deepstack(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where the CodeProject.AI or DeepStack server is, and its API key if it has one."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        stored: Mapping[str, Any] = {}
        if self.source == SOURCE_RECONFIGURE:
            stored = self._get_reconfigure_entry().data
        if user_input is not None:
            self._data[CONF_REMOTE_URL] = str(user_input[CONF_REMOTE_URL]).strip()
            # The key is never shown back: left empty, the stored one stays.
            api_key = str(user_input.get(CONF_API_KEY) or "").strip()
            self._data[CONF_API_KEY] = api_key or stored.get(CONF_API_KEY, "")
            if problem := await self._async_check_detector(self._data):
                field, errors[field], placeholders["error"] = problem
            else:
                return self._async_finish()
        defaults = user_input or stored
        return self.async_show_form(
            step_id="deepstack",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_REMOTE_URL,
                        default=defaults.get(CONF_REMOTE_URL, vol.UNDEFINED),
                    ): TextSelector(TextSelectorConfig(type=TextSelectorType.URL)),
                    vol.Optional(CONF_API_KEY): TextSelector(
                        TextSelectorConfig(type=TextSelectorType.PASSWORD)
                    ),
                }
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    @callback
    def _async_finish(self) -> ConfigFlowResult:
        if self.source == SOURCE_RECONFIGURE:
            # The entry's update listener reloads it with the new data; the
            # flow's own reload helpers would reload it a second time.
            self.hass.config_entries.async_update_entry(
                self._get_reconfigure_entry(), data=self._data
            )
            return self.async_abort(reason="reconfigure_successful")
        return self.async_create_entry(title=TITLE, data=self._data)

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create the hub."""
        return await self._async_hub_step("user", user_input, {})

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the detector settings of the hub."""
        entry = self._get_reconfigure_entry()
        return await self._async_hub_step("reconfigure", user_input, entry.data)
