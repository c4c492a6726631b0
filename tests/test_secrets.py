"""Secrets never appear in logs, entity attributes or diagnostics."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
import logging

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.camera_alerts.const import DOMAIN

from .camera_helpers import camera_subentry, wait_until
from .camera_sources.media import free_port
from .handlers.conftest import make_event
from .handlers.frigate_server import FakeFrigate

pytestmark = pytest.mark.usefixtures("mock_host_stats", "socket_enabled")

CAMERA_PASSWORD = "Cam#Pass@word9"
AMQP_PASSWORD = "amqpSecret77"
FRIGATE_PASSWORD = "frigateSecret55"


@pytest.fixture
async def frigate() -> AsyncGenerator[FakeFrigate]:
    server = FakeFrigate(cameras={"gate"}, users={"admin": "the-real-one"})
    await server.async_start()
    yield server
    await server.async_stop()


async def test_secrets_stay_secret(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    frigate: FakeFrigate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failing camera, broker and Frigate logins log and show no password."""
    caplog.set_level(logging.DEBUG)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={"model_path": "", "inference_threads": 1},
        options={
            "amqp_enabled": True,
            "amqp_url": f"amqp://guest:{AMQP_PASSWORD}@127.0.0.1:{free_port()}/",
            "amqp_exchange": "camera_alerts_secrets",
            "frigate_enabled": True,
            "frigate_url": frigate.url,
            "frigate_username": "admin",
            "frigate_password": FRIGATE_PASSWORD,
        },
        subentries_data=(
            camera_subentry(
                "Gate",
                url=f"rtsp://admin:{CAMERA_PASSWORD}@127.0.0.1:{free_port()}/stream",
                frigate_camera="gate",
            ),
        ),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    runtime.dispatcher.dispatch(make_event(camera="Gate"))
    await wait_until(
        lambda: runtime.dispatcher.status()["frigate"]["last_error"] is not None
        and runtime.dispatcher.status()["amqp"]["last_error"] is not None
        and hass.states.get("binary_sensor.gate_connectivity").attributes.get("last_error")
        is not None
    )

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    status = await hass.services.async_call(
        DOMAIN, "get_status", {}, blocking=True, return_response=True
    )
    attributes = json.dumps(
        [dict(state.attributes) for state in hass.states.async_all()], default=str
    )
    for secret in (CAMERA_PASSWORD, AMQP_PASSWORD, FRIGATE_PASSWORD):
        assert secret not in caplog.text
        assert secret not in json.dumps(diagnostics)
        assert secret not in json.dumps(status, default=str)
        assert secret not in attributes
    # The logs still say what failed.
    assert "rtsp://***@127.0.0.1" in caplog.text
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
