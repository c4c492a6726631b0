"""Subentry flow for cameras: add and reconfigure one camera."""

from __future__ import annotations

from typing import Any

from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    ObjectSelector,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
import voluptuous as vol

from .camera_runtime import parse_label_scores
from .const import (
    CONF_CAMERA_ENTITY,
    CONF_FPS,
    CONF_FRIGATE_CAMERA,
    CONF_LABEL_SCORES,
    CONF_LABELS,
    CONF_MIN_SCORE,
    CONF_MOTION_MASK,
    CONF_STREAM_URL,
    CONF_ZONES,
    DEFAULT_FPS,
    DEFAULT_LABELS,
    DEFAULT_MIN_SCORE,
    LOGGER,
)
from .inference.labels import COCO_80
from .pipeline.source import (
    CaptureUnavailable,
    InvalidSourceUrl,
    SourceError,
    probe_source,
)
from .pipeline.url import redact_url
from .pipeline.zones import ZoneError, parse_mask, parse_zones


def _camera_schema(defaults: dict[str, Any], *, with_name: bool) -> vol.Schema:
    fields: dict[Any, Any] = {}
    if with_name:
        fields[vol.Required(CONF_NAME, default=defaults.get(CONF_NAME, ""))] = (
            TextSelector()
        )
    fields.update(
        {
            vol.Optional(
                CONF_STREAM_URL,
                description={"suggested_value": defaults.get(CONF_STREAM_URL)},
            ): TextSelector(),
            vol.Optional(
                CONF_CAMERA_ENTITY,
                description={"suggested_value": defaults.get(CONF_CAMERA_ENTITY)},
            ): EntitySelector(EntitySelectorConfig(domain="camera")),
            vol.Required(
                CONF_FPS, default=defaults.get(CONF_FPS, DEFAULT_FPS)
            ): NumberSelector(
                NumberSelectorConfig(
                    min=0.2, max=15, step=0.1, mode=NumberSelectorMode.BOX
                )
            ),
            vol.Required(
                CONF_LABELS, default=list(defaults.get(CONF_LABELS, DEFAULT_LABELS))
            ): SelectSelector(
                SelectSelectorConfig(
                    options=list(COCO_80), multiple=True, custom_value=True, sort=False
                )
            ),
            vol.Required(
                CONF_MIN_SCORE, default=defaults.get(CONF_MIN_SCORE, DEFAULT_MIN_SCORE)
            ): NumberSelector(
                NumberSelectorConfig(
                    min=0.05, max=1.0, step=0.05, mode=NumberSelectorMode.SLIDER
                )
            ),
            vol.Optional(
                CONF_LABEL_SCORES,
                description={"suggested_value": defaults.get(CONF_LABEL_SCORES)},
            ): TextSelector(),
            vol.Optional(
                CONF_ZONES, description={"suggested_value": defaults.get(CONF_ZONES)}
            ): ObjectSelector(),
            vol.Optional(
                CONF_MOTION_MASK,
                description={"suggested_value": defaults.get(CONF_MOTION_MASK)},
            ): ObjectSelector(),
            vol.Optional(
                CONF_FRIGATE_CAMERA,
                description={"suggested_value": defaults.get(CONF_FRIGATE_CAMERA)},
            ): TextSelector(),
        }
    )
    return vol.Schema(fields)


class CameraSubentryFlow(ConfigSubentryFlow):
    """Add or change one camera."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Add a camera."""
        errors: dict[str, str] = {}
        if user_input is not None:
            name = str(user_input[CONF_NAME]).strip()
            if not name:
                errors[CONF_NAME] = "name_required"
            elif any(
                sub.data.get(CONF_NAME, "").casefold() == name.casefold()
                for sub in self._get_entry().subentries.values()
            ):
                errors[CONF_NAME] = "name_exists"
            data, more_errors = await self._async_validate(user_input, stored={})
            errors.update(more_errors)
            if not errors:
                data[CONF_NAME] = name
                return self.async_create_entry(title=name, data=data, unique_id=name.casefold())
        return self.async_show_form(
            step_id="user",
            data_schema=_camera_schema(user_input or {}, with_name=True),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a camera's source or detection settings."""
        subentry = self._get_reconfigure_subentry()
        stored = dict(subentry.data)
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = await self._async_validate(user_input, stored=stored)
            if not errors:
                data[CONF_NAME] = stored[CONF_NAME]
                # The hub's update listener reloads the entry with the new data.
                self.hass.config_entries.async_update_subentry(
                    self._get_entry(), subentry, data=data
                )
                return self.async_abort(reason="reconfigure_successful")
        defaults = dict(user_input or stored)
        if stored.get(CONF_STREAM_URL) and defaults.get(CONF_STREAM_URL) == stored[CONF_STREAM_URL]:
            # Never show credentials back; an unchanged redacted URL keeps the stored one.
            defaults[CONF_STREAM_URL] = redact_url(stored[CONF_STREAM_URL])
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_camera_schema(defaults, with_name=False),
            errors=errors,
            description_placeholders={"camera": stored[CONF_NAME]},
        )

    async def _async_validate(
        self, user_input: dict[str, Any], stored: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        errors: dict[str, str] = {}
        url = str(user_input.get(CONF_STREAM_URL) or "").strip()
        if url and stored.get(CONF_STREAM_URL) and url == redact_url(stored[CONF_STREAM_URL]):
            url = stored[CONF_STREAM_URL]
        entity = user_input.get(CONF_CAMERA_ENTITY) or ""
        data: dict[str, Any] = {
            CONF_STREAM_URL: url,
            CONF_CAMERA_ENTITY: entity,
            CONF_FPS: float(user_input[CONF_FPS]),
            CONF_LABELS: [str(label).strip() for label in user_input[CONF_LABELS] if str(label).strip()],
            CONF_MIN_SCORE: float(user_input[CONF_MIN_SCORE]),
            CONF_LABEL_SCORES: str(user_input.get(CONF_LABEL_SCORES) or "").strip(),
            CONF_ZONES: user_input.get(CONF_ZONES) or {},
            CONF_MOTION_MASK: user_input.get(CONF_MOTION_MASK) or [],
            CONF_FRIGATE_CAMERA: str(user_input.get(CONF_FRIGATE_CAMERA) or "").strip(),
        }
        if not data[CONF_LABELS]:
            errors[CONF_LABELS] = "labels_required"
        try:
            parse_label_scores(data[CONF_LABEL_SCORES])
        except ValueError:
            errors[CONF_LABEL_SCORES] = "invalid_label_scores"
        try:
            parse_zones(data[CONF_ZONES])
        except ZoneError:
            errors[CONF_ZONES] = "invalid_zones"
        try:
            parse_mask(data[CONF_MOTION_MASK])
        except ZoneError:
            errors[CONF_MOTION_MASK] = "invalid_mask"
        if bool(url) == bool(entity):
            errors["base"] = "one_source"
        elif url:
            try:
                await self.hass.async_add_executor_job(probe_source, url)
            except InvalidSourceUrl:
                errors[CONF_STREAM_URL] = "invalid_url"
            except CaptureUnavailable:
                errors[CONF_STREAM_URL] = "capture_unavailable"
            except SourceError as err:
                LOGGER.debug("Camera source check failed: %s", err)
                errors[CONF_STREAM_URL] = "cannot_connect"
        else:
            try:
                await async_get_image(self.hass, entity)
            except HomeAssistantError as err:
                LOGGER.debug("Camera entity check failed: %s", err)
                errors[CONF_CAMERA_ENTITY] = "cannot_connect"
        return data, errors
