"""Tests for the hub's options flow (the sinks)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts.const import (
    CONF_AMQP_ENABLED,
    CONF_AMQP_EXCHANGE,
    CONF_AMQP_URL,
    CONF_FRIGATE_ENABLED,
    CONF_FRIGATE_PASSWORD,
    CONF_FRIGATE_URL,
    CONF_FRIGATE_USERNAME,
    CONF_MQTT_ENABLED,
    CONF_MQTT_PREFIX,
    DOMAIN,
)

from .camera_sources.media import free_port
from .conftest import setup_integration
from .handlers.conftest import RABBITMQ_URL
from .handlers.frigate_server import FakeFrigate

pytestmark = pytest.mark.usefixtures("mock_host_stats", "socket_enabled")


def _options(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        CONF_MQTT_ENABLED: False,
        CONF_MQTT_PREFIX: "camera_alerts",
        CONF_AMQP_ENABLED: False,
        CONF_AMQP_EXCHANGE: "camera_alerts_test_options",
        CONF_FRIGATE_ENABLED: False,
    }
    data.update(overrides)
    return data


@pytest.fixture
async def frigate() -> AsyncGenerator[FakeFrigate]:
    server = FakeFrigate(cameras={"front"}, users={"admin": "hunter2"})
    await server.async_start()
    yield server
    await server.async_stop()


async def _configure(hass: HomeAssistant, entry: MockConfigEntry, options: dict[str, Any]) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    return await hass.config_entries.options.async_configure(result["flow_id"], options)


async def test_enable_amqp_and_frigate(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, frigate: FakeFrigate
) -> None:
    """Working sinks are saved, and the reloaded entry runs them."""
    await setup_integration(hass, mock_config_entry)
    result = await _configure(
        hass,
        mock_config_entry,
        _options(
            **{
                CONF_AMQP_ENABLED: True,
                CONF_AMQP_URL: RABBITMQ_URL,
                CONF_FRIGATE_ENABLED: True,
                CONF_FRIGATE_URL: frigate.url,
                CONF_FRIGATE_USERNAME: "admin",
                CONF_FRIGATE_PASSWORD: "hunter2",
            }
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert mock_config_entry.options[CONF_AMQP_URL] == RABBITMQ_URL
    sinks = [sink.name for sink in mock_config_entry.runtime_data.dispatcher.sinks]
    assert sinks == ["amqp", "frigate"]
    assert hass.states.get("sensor.camera_alerts_amqp_sink") is not None


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({CONF_MQTT_ENABLED: True}, {CONF_MQTT_ENABLED: "mqtt_not_configured"}),
        # A wildcard in the prefix would make every publish fail.
        ({CONF_MQTT_PREFIX: "home/#"}, {CONF_MQTT_PREFIX: "invalid_mqtt_prefix"}),
        ({CONF_MQTT_PREFIX: "home/+/cams"}, {CONF_MQTT_PREFIX: "invalid_mqtt_prefix"}),
        ({CONF_MQTT_PREFIX: " / "}, {CONF_MQTT_PREFIX: "invalid_mqtt_prefix"}),
        ({CONF_AMQP_ENABLED: True}, {CONF_AMQP_URL: "url_required"}),
        (
            {CONF_AMQP_ENABLED: True, CONF_AMQP_URL: "amqp://guest:wrong@127.0.0.1:5672/"},
            {CONF_AMQP_URL: "invalid_auth"},
        ),
        (
            {CONF_AMQP_ENABLED: True, CONF_AMQP_URL: "CLOSED_AMQP"},
            {CONF_AMQP_URL: "cannot_connect"},
        ),
        ({CONF_FRIGATE_ENABLED: True}, {CONF_FRIGATE_URL: "url_required"}),
        (
            {CONF_FRIGATE_ENABLED: True, CONF_FRIGATE_URL: "FRIGATE",
             CONF_FRIGATE_USERNAME: "admin", CONF_FRIGATE_PASSWORD: "nope"},
            {CONF_FRIGATE_USERNAME: "invalid_auth"},
        ),
        (
            {CONF_FRIGATE_ENABLED: True, CONF_FRIGATE_URL: "CLOSED_HTTP"},
            {CONF_FRIGATE_URL: "cannot_connect"},
        ),
    ],
)
async def test_sink_errors(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    frigate: FakeFrigate,
    overrides: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Every unusable sink setting gets its translated error."""
    await setup_integration(hass, mock_config_entry)
    replacements = {
        "FRIGATE": frigate.url,
        "CLOSED_HTTP": f"http://127.0.0.1:{free_port()}",
        "CLOSED_AMQP": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
    }
    options = _options(**{k: replacements.get(v, v) for k, v in overrides.items()})
    result = await _configure(hass, mock_config_entry, options)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors


async def test_secrets_not_shown_and_kept(
    hass: HomeAssistant, frigate: FakeFrigate, tmp_path: Path
) -> None:
    """The AMQP password and the Frigate password never come back in the form."""
    secret_url = RABBITMQ_URL
    entry = MockConfigEntry(
        domain="camera_alerts",
        data={"model_path": "", "inference_threads": 2},
        options=_options(
            **{
                CONF_AMQP_ENABLED: True,
                CONF_AMQP_URL: secret_url,
                CONF_FRIGATE_ENABLED: True,
                CONF_FRIGATE_URL: frigate.url,
                CONF_FRIGATE_USERNAME: "admin",
                CONF_FRIGATE_PASSWORD: "hunter2",
            }
        ),
    )
    await setup_integration(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    shown = {
        str(key): key.description.get("suggested_value") if key.description else None
        for key in result["data_schema"].schema
    }
    assert shown[CONF_AMQP_URL] == "amqp://***@127.0.0.1:5672/"
    assert shown[CONF_FRIGATE_PASSWORD] is None

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        _options(
            **{
                CONF_AMQP_ENABLED: True,
                CONF_AMQP_URL: shown[CONF_AMQP_URL],
                CONF_FRIGATE_ENABLED: True,
                CONF_FRIGATE_URL: frigate.url,
                CONF_FRIGATE_USERNAME: "admin",
            }
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_AMQP_URL] == secret_url
    assert entry.options[CONF_FRIGATE_PASSWORD] == "hunter2"


@pytest.mark.parametrize("language", ["en", "pt-BR"])
async def test_prefix_error_is_translated(hass: HomeAssistant, language: str) -> None:
    strings = await async_get_translations(hass, language, "options", [DOMAIN])
    key = f"component.{DOMAIN}.options.error.invalid_mqtt_prefix"
    assert "#" in strings[key]
    assert "+" in strings[key]
