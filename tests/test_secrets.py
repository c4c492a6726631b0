"""Secrets never appear in logs, entity attributes or diagnostics."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.camera_alerts.const import DOMAIN
from custom_components.camera_alerts.pipeline import source as source_module

from .camera_helpers import camera_subentry, hub_entry, static_clip, wait_until
from .camera_sources.media import MjpegServer, RtspServer, free_port, static_scene
from .handlers.conftest import make_event
from .handlers.frigate_server import FakeFrigate, running_frigate

pytestmark = pytest.mark.usefixtures("mock_host_stats", "socket_enabled")

CAMERA_PASSWORD = "Cam#Pass@word9"
AMQP_PASSWORD = "amqpSecret77"
FRIGATE_PASSWORD = "frigateSecret55"


@pytest.fixture
async def frigate() -> AsyncGenerator[FakeFrigate]:
    async with running_frigate({"gate"}, {"admin": "the-real-one"}) as server:
        yield server


def _hub(
    amqp_password: str, options: dict[str, Any], *cameras: ConfigSubentryDataWithId
) -> MockConfigEntry:
    """The hub with an unreachable broker behind a password, and `cameras`."""
    broker = f"amqp://guest:{amqp_password}@127.0.0.1:{free_port()}/"
    return hub_entry(
        *cameras,
        options={
            "amqp_enabled": True,
            "amqp_url": broker,
            "amqp_exchange": "camera_alerts_secrets",
            **options,
        },
    )


async def test_secrets_stay_secret(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    frigate: FakeFrigate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failing camera, broker and Frigate logins log and show no password."""
    caplog.set_level(logging.DEBUG)
    entry = _hub(
        AMQP_PASSWORD,
        {
            "frigate_enabled": True,
            "frigate_url": frigate.url,
            "frigate_username": "admin",
            "frigate_password": FRIGATE_PASSWORD,
        },
        camera_subentry(
            "Gate",
            url=f"rtsp://admin:{CAMERA_PASSWORD}@127.0.0.1:{free_port()}/stream",
            frigate_camera="gate",
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


# One planted secret per place a camera URL can carry a credential; user names
# are planted too (they are half of a login).
URL_SECRETS = {
    "userinfo": ("camuser0", "InfoSecret0"),
    "path_rtsp": ("camuser1", "PathRtspSecret1"),
    "path_http": ("camuser2", "PathHttpSecret2", "PathTokenSecret3"),
    "query": (
        "camuser4",
        "LoginpasSecret4",
        "camuser5",
        "PwdSecret5",
        "PasswdSecret6",
        "AuthSecret7",
        "TokenSecret8",
        "KeySecret9",
        "SigSecret10",
        "CamPasswordSecret11",
    ),
}
AMQP_AT_PASSWORD = "Qz7amqp@Wv9pass@88"


def _forms(secret: str) -> set[str]:
    """The secret as typed, URL-encoded, and each part of it around an `@`."""
    return {secret, quote(secret, safe=""), *(p for p in secret.split("@") if len(p) > 3)}


async def _everything_shown(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    entry: MockConfigEntry,
) -> str:
    """Every place a user or a helper can see: status, states, diagnostics, issues."""
    device_registry = dr.async_get(hass)
    shown: list[Any] = [
        await hass.services.async_call(
            DOMAIN, "get_status", {}, blocking=True, return_response=True
        ),
        [(state.state, dict(state.attributes)) for state in hass.states.async_all()],
        await get_diagnostics_for_config_entry(hass, hass_client, entry),
        [
            issue.translation_placeholders
            for issue in ir.async_get(hass).issues.values()
        ],
    ]
    for subentry_id in entry.subentries:
        device = device_registry.async_get_device({(DOMAIN, subentry_id)})
        assert device is not None
        shown.append(
            await get_diagnostics_for_device(hass, hass_client, entry, device)
        )
    return json.dumps(shown, default=str)


@pytest.mark.parametrize("backend", source_module.CAPTURE_BACKENDS)
async def test_credentials_in_every_url_style_stay_secret(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    backend: source_module.CaptureBackend,
) -> None:
    """Credentials in user info, paths and vendor query keys show nowhere, up or down.

    Both capture backends run: FFmpeg, OpenCV and PyAV may each echo a URL.
    """
    monkeypatch.setattr(source_module, "capture_backend", backend)
    caplog.set_level(logging.DEBUG)
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    mjpeg = MjpegServer(static_scene((320, 180), 10), fps=10)
    user, password = URL_SECRETS["path_rtsp"]
    rtsp = RtspServer(
        static_clip(tmp_path),
        mount=f"/user={user}_password={password}_channel=1_stream=0.sdp",
    )
    await hass.async_add_executor_job(mjpeg.start)
    await hass.async_add_executor_job(rtsp.start)
    base = f"http://127.0.0.1:{mjpeg.port}"
    query = URL_SECRETS["query"]
    path_user, path_password, path_token = URL_SECRETS["path_http"]
    urls = {
        "userinfo": base.replace("://", "://{}:{}@".format(*URL_SECRETS["userinfo"]))
        + "/video.mjpg",
        "path_rtsp": rtsp.url,
        "path_http": f"{base}/cgi-bin/user={path_user}_password={path_password}"
        f"_channel=1/authtoken={path_token}/video.mjpg",
        "query": f"{base}/video.cgi?loginuse={query[0]}&loginpas={query[1]}"
        f"&usr={query[2]}&pwd={query[3]}&passwd={query[4]}&auth={query[5]}"
        f"&token={query[6]}&key={query[7]}&sig={query[8]}&camPassword={query[9]}"
        "&channel=1",
    }
    entry = _hub(
        AMQP_AT_PASSWORD,
        {},
        *(camera_subentry(name, url=url, fps=2.0) for name, url in urls.items()),
    )
    entry.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        cameras = list(entry.runtime_data.cameras.values())
        assert len(cameras) == len(urls)
        await wait_until(lambda: all(c.coordinator.data.connected for c in cameras))
        await wait_until(
            lambda: entry.runtime_data.dispatcher.status()["amqp"]["last_error"]
            is not None
        )
        while_running = await _everything_shown(hass, hass_client, entry)

        await hass.async_add_executor_job(mjpeg.stop)
        await hass.async_add_executor_job(rtsp.stop)
        await wait_until(
            lambda: all(
                not c.coordinator.data.connected and c.coordinator.data.last_error
                for c in cameras
            )
        )
        # Down long enough for each camera's repair issue.
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
        await hass.async_block_till_done()
        issues = ir.async_get(hass).issues
        assert sum(key[1].startswith("camera_down_") for key in issues) == len(urls)
        after_down = await _everything_shown(hass, hass_client, entry)
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        await hass.async_add_executor_job(mjpeg.stop)
        await hass.async_add_executor_job(rtsp.stop)

    captured = capfd.readouterr()
    places = {
        "log": caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
        "while running": while_running,
        "after down": after_down,
    }
    planted = [s for secrets in URL_SECRETS.values() for s in secrets]
    for secret in [*planted, AMQP_AT_PASSWORD]:
        for form in _forms(secret):
            for place, text in places.items():
                assert form not in text, f"{form!r} shows in the {place}"
    # What failed is still said, with the credentials hidden.
    for hidden in ("user=***_password=***_channel=1", "loginpas=***", "sig=***"):
        assert hidden in after_down
        assert hidden in caplog.text
