"""Subentry flow for ESP32 boards on serial ports."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
import voluptuous as vol

from .const import (
    BAUDRATES,
    CONF_BAUDRATE,
    CONF_NAME,
    CONF_PORT,
    DEFAULT_BAUDRATE,
    LOGGER,
)
from .serial.link import SerialConnectError, async_probe, list_ports


def _schema(ports: list[tuple[str, str]], defaults: dict[str, Any], *, with_name: bool) -> vol.Schema:
    fields: dict[Any, Any] = {
        vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, vol.UNDEFINED)): SelectSelector(
            SelectSelectorConfig(
                options=[
                    SelectOptionDict(value=device, label=f"{device} ({description})")
                    for device, description in ports
                ],
                custom_value=True,
                mode=SelectSelectorMode.DROPDOWN,
            )
        ),
        vol.Required(
            CONF_BAUDRATE, default=str(defaults.get(CONF_BAUDRATE, DEFAULT_BAUDRATE))
        ): SelectSelector(
            SelectSelectorConfig(
                options=[str(rate) for rate in BAUDRATES], mode=SelectSelectorMode.DROPDOWN
            )
        ),
    }
    if with_name:
        fields[vol.Optional(CONF_NAME, description={"suggested_value": defaults.get(CONF_NAME)})] = TextSelector()
    return vol.Schema(fields)


class SerialSubentryFlow(ConfigSubentryFlow):
    """Add or change one serial board."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Add a board."""
        errors: dict[str, str] = {}
        if user_input is not None:
            port = str(user_input[CONF_PORT]).strip()
            name = str(user_input.get(CONF_NAME) or "").strip() or port.rsplit("/", 1)[-1]
            if any(
                sub.data.get(CONF_PORT) == port for sub in self._get_entry().subentries.values()
            ):
                errors[CONF_PORT] = "already_configured"
            else:
                errors = await self._async_probe(port, int(user_input[CONF_BAUDRATE]))
            if not errors:
                return self.async_create_entry(
                    title=name,
                    data={CONF_NAME: name, CONF_PORT: port, CONF_BAUDRATE: int(user_input[CONF_BAUDRATE])},
                    unique_id=port,
                )
        ports = await self.hass.async_add_executor_job(list_ports)
        return self.async_show_form(
            step_id="user", data_schema=_schema(ports, user_input or {}, with_name=True), errors=errors
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a board's port or speed."""
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            port = str(user_input[CONF_PORT]).strip()
            errors = await self._async_probe(port, int(user_input[CONF_BAUDRATE]))
            if not errors:
                self.hass.config_entries.async_update_subentry(
                    self._get_entry(),
                    subentry,
                    data={**subentry.data, CONF_PORT: port, CONF_BAUDRATE: int(user_input[CONF_BAUDRATE])},
                )
                return self.async_abort(reason="reconfigure_successful")
        ports = await self.hass.async_add_executor_job(list_ports)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_schema(ports, dict(user_input or subentry.data), with_name=False),
            errors=errors,
            description_placeholders={"board": subentry.data[CONF_NAME]},
        )

    async def _async_probe(self, port: str, baudrate: int) -> dict[str, str]:
        try:
            await async_probe(port, baudrate)
        except SerialConnectError as err:
            LOGGER.debug("Serial port check failed: %s", err)
            return {CONF_PORT: "cannot_connect"}
        return {}
