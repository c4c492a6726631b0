"""Repair issues raised by failing sinks, and cleared when they recover or unload."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

from homeassistant.components.repairs.issue_handler import (
    async_process_repairs_platforms,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.camera_alerts.const import DOMAIN
from custom_components.camera_alerts.handlers.amqp import AmqpSink
from custom_components.camera_alerts.handlers.dispatcher import Dispatcher
from custom_components.camera_alerts.runtime import SINK_HEALTH_INTERVAL
from custom_components.camera_alerts.sinks import SinkHealth

from .camera_helpers import camera_subentry, hub_entry, static_clip, wait_until
from .camera_sources.media import MjpegServer, free_port, static_scene
from .conftest import setup_integration
from .handlers.conftest import make_event
from .handlers.frigate_server import FakeFrigate
from .serial.conftest import PtyBoard
from .test_serial import serial_entry

pytestmark = pytest.mark.usefixtures("mock_host_stats", "socket_enabled")


@pytest.fixture
async def frigate() -> AsyncGenerator[FakeFrigate]:
    server = FakeFrigate(cameras={"front"})
    await server.async_start()
    yield server
    await server.async_stop()


async def test_failing_sink_raises_issue_after_a_while(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry
) -> None:
    """An unreachable broker becomes a repair issue only when it stays unreachable."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={"model_path": "", "inference_threads": 2},
        options={
            "amqp_enabled": True,
            "amqp_url": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
            "amqp_exchange": "camera_alerts_repairs",
        },
    )
    await setup_integration(hass, entry)
    dispatcher = entry.runtime_data.dispatcher
    await wait_until(lambda: dispatcher.status()["amqp"]["last_error"] is not None)
    entry.runtime_data.sink_health.async_check()
    assert issue_registry.async_get_issue(DOMAIN, "sink_failing_amqp") is None
    assert "sink_failing:amqp" in entry.runtime_data.problems()

    # Once failing long enough, the periodic check raises the issue.
    with patch("custom_components.camera_alerts.sinks.SINK_FAILING_ISSUE_AFTER", timedelta(0)):
        async_fire_time_changed(hass, dt_util.utcnow() + SINK_HEALTH_INTERVAL)
        await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, "sink_failing_amqp")
    assert issue is not None
    assert issue.translation_key == "sink_failing"
    assert "guest:guest" not in issue.translation_placeholders["error"]

    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, "sink_failing_amqp") is None


async def test_unknown_frigate_camera_issue(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    frigate: FakeFrigate,
    tmp_path: Path,
) -> None:
    """Frigate answering 404 for a camera name raises an issue naming it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={"model_path": "", "inference_threads": 2},
        options={"frigate_enabled": True, "frigate_url": frigate.url},
        subentries_data=(
            camera_subentry("Gate", url=str(static_clip(tmp_path)), frigate_camera="back"),
        ),
    )
    await setup_integration(hass, entry)
    entry.runtime_data.dispatcher.dispatch(make_event(camera="Gate"))
    await wait_until(
        lambda: issue_registry.async_get_issue(DOMAIN, "frigate_unknown_camera_back") is not None
    )
    issue = issue_registry.async_get_issue(DOMAIN, "frigate_unknown_camera_back")
    assert issue.translation_placeholders == {"camera": "back"}
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_outbox_overflow_issue(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, tmp_path: Path
) -> None:
    """A full AMQP outbox drops the oldest events and says so in a repair issue."""
    sink = AmqpSink(
        f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        "camera_alerts_overflow",
        tmp_path / "outbox.jsonl",
        max_outbox=3,
    )
    dispatcher = Dispatcher([sink])
    health = SinkHealth(hass, dispatcher)
    await dispatcher.async_start()
    for _ in range(5):
        dispatcher.dispatch(make_event())
    await wait_until(lambda: sink.state.dropped == 2)
    health.async_check()
    issue = issue_registry.async_get_issue(DOMAIN, "amqp_outbox_dropped")
    assert issue is not None
    assert issue.translation_placeholders == {"dropped": "2"}
    await dispatcher.async_stop()
    health.async_clear()
    assert issue_registry.async_get_issue(DOMAIN, "amqp_outbox_dropped") is None


async def test_camera_down_issue_raised_and_withdrawn(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry
) -> None:
    """A camera that stays down raises an issue; it goes when frames come back."""
    with (
        patch("custom_components.camera_alerts.camera_runtime.CAMERA_DOWN_ISSUE_DELAY", timedelta(0)),
        MjpegServer(static_scene((320, 180), 10), fps=10) as server,
    ):
        entry = hub_entry(camera_subentry("Drive", url=server.url))
        await setup_integration(hass, entry)
        subentry_id = next(iter(entry.subentries))
        issue_id = f"camera_down_{subentry_id}"
        await wait_until(lambda: hass.states.get("binary_sensor.drive_connectivity").state == "on")
        assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

        server.stop()
        await wait_until(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is not None)
        issue = issue_registry.async_get_issue(DOMAIN, issue_id)
        assert issue.translation_key == "camera_down"
        assert issue.translation_placeholders["camera"] == "Drive"

        server.start()
        await wait_until(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None, guard=60)
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def test_serial_board_gone_issue(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, tmp_path: Path
) -> None:
    """A board whose port stays missing raises an issue; plugging it in withdraws it."""
    board = PtyBoard(tmp_path / "ttyESP32")
    board.unplug()
    with (
        patch("custom_components.camera_alerts.serial_runtime.BOARD_GONE_ISSUE_DELAY", timedelta(0)),
        patch("custom_components.camera_alerts.serial_runtime.RECONNECT_BACKOFF_S", 0.05),
    ):
        entry = serial_entry(str(board.link_path))
        await setup_integration(hass, entry)
        issue_id = f"serial_gone_{next(iter(entry.subentries))}"
        await wait_until(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is not None)
        assert issue_registry.async_get_issue(DOMAIN, issue_id).translation_placeholders == {
            "board": "Garden",
            "port": str(board.link_path),
        }
        board.plug()
        await wait_until(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None)
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    board.unplug()


async def test_no_repairs_platform(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """HA takes a module named `repairs` for the repairs platform: there is none.

    The issues are plain (no fix flow), so the integration ships no repairs platform;
    a helper module by that name makes HA log "Invalid repairs platform" when the
    repairs dashboard loads its platforms.
    """
    assert await async_setup_component(hass, "repairs", {})
    await setup_integration(hass, mock_config_entry)
    await async_process_repairs_platforms(hass)
    await hass.async_block_till_done()
    assert "repairs platform" not in caplog.text
