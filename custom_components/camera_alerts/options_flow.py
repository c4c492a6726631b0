"""Options flow of the hub: where detection events are sent."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .const import (
    CONF_AMQP_ENABLED,
    CONF_AMQP_EXCHANGE,
    CONF_AMQP_URL,
    CONF_FRIGATE_ENABLED,
    CONF_FRIGATE_PASSWORD,
    CONF_FRIGATE_URL,
    CONF_FRIGATE_USERNAME,
    CONF_MQTT_ENABLED,
    CONF_MQTT_PREFIX,
    DEFAULT_AMQP_EXCHANGE,
    DEFAULT_MQTT_PREFIX,
    LOGGER,
)
from .handlers.amqp import async_validate_amqp
from .handlers.errors import CannotConnect, InvalidAuth
from .handlers.frigate import async_validate_frigate
from .handlers.mqtt import prefix_problem
from .pipeline.url import redact_url

_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))


def _schema(defaults: dict[str, Any]) -> vol.Schema:
    def suggested(key: str) -> dict[str, Any]:
        return {"suggested_value": defaults.get(key)}

    return vol.Schema(
        {
            vol.Required(
                CONF_MQTT_ENABLED, default=defaults.get(CONF_MQTT_ENABLED, False)
            ): BooleanSelector(),
            vol.Required(
                CONF_MQTT_PREFIX, default=defaults.get(CONF_MQTT_PREFIX, DEFAULT_MQTT_PREFIX)
            ): TextSelector(),
            vol.Required(
                CONF_AMQP_ENABLED, default=defaults.get(CONF_AMQP_ENABLED, False)
            ): BooleanSelector(),
            vol.Optional(CONF_AMQP_URL, description=suggested(CONF_AMQP_URL)): TextSelector(),
            vol.Required(
                CONF_AMQP_EXCHANGE,
                default=defaults.get(CONF_AMQP_EXCHANGE, DEFAULT_AMQP_EXCHANGE),
            ): TextSelector(),
            vol.Required(
                CONF_FRIGATE_ENABLED, default=defaults.get(CONF_FRIGATE_ENABLED, False)
            ): BooleanSelector(),
            vol.Optional(CONF_FRIGATE_URL, description=suggested(CONF_FRIGATE_URL)): _URL,
            vol.Optional(
                CONF_FRIGATE_USERNAME, description=suggested(CONF_FRIGATE_USERNAME)
            ): TextSelector(),
            vol.Optional(CONF_FRIGATE_PASSWORD): TextSelector(
                TextSelectorConfig(type=TextSelectorType.PASSWORD)
            ),
        }
    )


class CameraAlertsOptionsFlow(OptionsFlow):
    """Choose and test the sinks: MQTT, RabbitMQ (AMQP) and Frigate."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and validate the sink settings."""
        stored = dict(self.config_entry.options)
        errors: dict[str, str] = {}
        if user_input is not None:
            options = self._merge_secrets(user_input, stored)
            errors = await self._async_validate(options)
            if not errors:
                # The entry's update listener reloads it with the new sinks.
                return self.async_create_entry(data=options)
        defaults = dict(user_input or stored)
        if stored.get(CONF_AMQP_URL) and defaults.get(CONF_AMQP_URL) == stored[CONF_AMQP_URL]:
            defaults[CONF_AMQP_URL] = redact_url(stored[CONF_AMQP_URL])
        return self.async_show_form(step_id="init", data_schema=_schema(defaults), errors=errors)

    @staticmethod
    def _merge_secrets(user_input: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
        """Keep stored secrets the form never showed back."""
        options = {key: value.strip() if isinstance(value, str) else value for key, value in user_input.items()}
        url = options.get(CONF_AMQP_URL) or ""
        if stored.get(CONF_AMQP_URL) and url == redact_url(stored[CONF_AMQP_URL]):
            options[CONF_AMQP_URL] = stored[CONF_AMQP_URL]
        if not options.get(CONF_FRIGATE_PASSWORD) and stored.get(CONF_FRIGATE_PASSWORD):
            options[CONF_FRIGATE_PASSWORD] = stored[CONF_FRIGATE_PASSWORD]
        return options

    async def _async_validate(self, options: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if options.get(CONF_MQTT_ENABLED) and not self.hass.config_entries.async_loaded_entries("mqtt"):
            errors[CONF_MQTT_ENABLED] = "mqtt_not_configured"
        if problem := prefix_problem(options.get(CONF_MQTT_PREFIX) or ""):
            errors[CONF_MQTT_PREFIX] = problem
        if options.get(CONF_AMQP_ENABLED):
            if not options.get(CONF_AMQP_URL):
                errors[CONF_AMQP_URL] = "url_required"
            else:
                try:
                    await async_validate_amqp(options[CONF_AMQP_URL], options[CONF_AMQP_EXCHANGE])
                except InvalidAuth:
                    errors[CONF_AMQP_URL] = "invalid_auth"
                except CannotConnect as err:
                    LOGGER.debug("AMQP check failed: %s", err)
                    errors[CONF_AMQP_URL] = "cannot_connect"
        if options.get(CONF_FRIGATE_ENABLED):
            if not options.get(CONF_FRIGATE_URL):
                errors[CONF_FRIGATE_URL] = "url_required"
            else:
                try:
                    await async_validate_frigate(
                        async_get_clientsession(self.hass),
                        options[CONF_FRIGATE_URL],
                        options.get(CONF_FRIGATE_USERNAME) or None,
                        options.get(CONF_FRIGATE_PASSWORD) or None,
                    )
                except InvalidAuth:
                    errors[CONF_FRIGATE_USERNAME] = "invalid_auth"
                except CannotConnect as err:
                    LOGGER.debug("Frigate check failed: %s", err)
                    errors[CONF_FRIGATE_URL] = "cannot_connect"
        return errors
