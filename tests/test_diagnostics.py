"""Tests for diagnostics: useful content, no secrets."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.camera_alerts.const import DOMAIN

from .camera_helpers import camera_subentry, wait_until
from .camera_sources.media import MjpegServer, static_scene
from .ha_compat import get_device
from .handlers.conftest import RABBITMQ_URL

pytestmark = pytest.mark.usefixtures("mock_host_stats", "socket_enabled")

SECRETS = ("s3cretcam", "guest:guest", "frigatepass", "frigateuser")


async def test_diagnostics_redact_every_secret(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    request: pytest.FixtureRequest,
) -> None:
    """Entry and device diagnostics carry state and statistics but no credentials."""
    server = MjpegServer(static_scene((320, 180), 10), fps=10)
    server.start()
    request.addfinalizer(server.stop)
    url = server.url.replace("http://", "http://admin:s3cretcam@")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={"model_path": "", "inference_threads": 2},
        options={
            "amqp_enabled": True,
            "amqp_url": RABBITMQ_URL,
            "amqp_exchange": "camera_alerts_diag",
            "frigate_enabled": False,
            "frigate_url": "http://127.0.0.1:1",
            "frigate_username": "frigateuser",
            "frigate_password": "frigatepass",
        },
        subentries_data=(
            camera_subentry("Yard", url=url),
        ),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    camera = next(iter(entry.runtime_data.cameras.values()))
    await wait_until(lambda: camera.coordinator.data.connected)

    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(result)
    for secret in SECRETS:
        assert secret not in text
    assert result["entry"]["subentries"][0]["data"]["stream_url"].startswith("http://***@127.0.0.1:")
    assert result["entry"]["options"]["amqp_url"] == "amqp://***@127.0.0.1:5672/"
    assert result["model"]["adapter"] == "nanodet"
    assert result["status"]["cameras"]["Yard"]["connected"] is True
    assert result["status"]["handlers"]["amqp"]["failed"] == 0

    device = get_device(hass, entry, camera.subentry.subentry_id)
    result = await get_diagnostics_for_device(hass, hass_client, entry, device)
    assert result["camera"]["running"] is True
    assert "s3cretcam" not in json.dumps(result)
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
