"""ESP32 boards over a real pseudo-terminal, through the whole integration."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts.const import (
    CONF_BAUDRATE,
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    CONF_NAME,
    CONF_PORT,
    DOMAIN,
    SUBENTRY_SERIAL,
)

from .camera_helpers import wait_until
from .ha_compat import start_subentry_reconfigure
from .serial.conftest import PtyBoard

pytestmark = pytest.mark.usefixtures("mock_host_stats")

DESCRIBE = {
    "temperature": {"unit": "°C", "device_class": "temperature", "name": "Temperature"},
    "door": {"device_class": "door", "name": "Door"},
}


@pytest.fixture(autouse=True)
def fast_reconnect() -> Iterator[None]:
    with patch("custom_components.camera_alerts.serial_runtime.RECONNECT_BACKOFF_S", 0.05):
        yield


@pytest.fixture
def board(tmp_path: Path) -> Iterator[PtyBoard]:
    pty = PtyBoard(tmp_path / "ttyESP32")
    yield pty
    pty.unplug()


def serial_entry(port: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={CONF_MODEL_PATH: "", CONF_INFERENCE_THREADS: 2},
        subentries_data=(
            ConfigSubentryData(
                data={CONF_NAME: "Garden", CONF_PORT: port, CONF_BAUDRATE: 115200},
                subentry_type=SUBENTRY_SERIAL,
                title="Garden",
                unique_id=port,
            ),
        ),
        entry_id="01JCAMERAALERTSHUB000000000",
    )


async def _setup(hass: HomeAssistant, board: PtyBoard) -> MockConfigEntry:
    entry = serial_entry(str(board.link_path))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: hass.states.get("binary_sensor.garden_connectivity").state == "on")
    return entry


def _line(data: object) -> bytes:
    return (json.dumps(data) + "\n").encode()


async def test_entities_from_what_the_board_sends(
    hass: HomeAssistant, board: PtyBoard, entity_registry: er.EntityRegistry
) -> None:
    """Keys become typed entities, values update, garbage is counted and ignored."""
    entry = await _setup(hass, board)
    board.write(b"#describe " + json.dumps(DESCRIBE).encode() + b"\n")
    board.write(_line({"temperature": 21.4, "humidity": 48, "door": "open", "motion": True}))
    board.write(_line({"door_open": False}))
    await wait_until(lambda: hass.states.get("binary_sensor.garden_door_open") is not None)

    temperature = hass.states.get("sensor.garden_temperature")
    assert temperature.state == "21.4"
    assert temperature.attributes["unit_of_measurement"] == "°C"
    assert temperature.attributes["device_class"] == "temperature"
    assert temperature.attributes["state_class"] == "measurement"
    humidity = hass.states.get("sensor.garden_humidity")
    assert humidity.state == "48"
    assert "device_class" not in humidity.attributes
    assert hass.states.get("sensor.garden_door").state == "open"
    assert hass.states.get("binary_sensor.garden_motion").state == "on"
    assert hass.states.get("binary_sensor.garden_door_open").state == "off"
    assert hass.states.get("sensor.garden_last_message").state not in ("unknown", "unavailable")

    board.write(b"\xff\xfe garbage\n")
    board.write(b"\x00\x01\x02\n")
    board.write(b"x" * 5000 + b"\n")
    board.write(_line({"temperature": "hot"}))
    board.write(b'{"temperature": 22.')
    board.write(b'5}\n')
    await wait_until(lambda: hass.states.get("sensor.garden_temperature").state == "22.5")
    await wait_until(lambda: hass.states.get("sensor.garden_bad_lines").state == "4")
    errors = hass.states.get("sensor.garden_bad_lines").attributes
    assert errors["invalid_utf8"] == 1
    assert errors["binary"] == 1
    assert errors["too_long"] == 1
    assert errors["type_changed"] == 1
    keys = [
        e.unique_id for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if e.unique_id.split("_key_")[-1] in ("temperature", "humidity", "door", "motion", "door_open")
    ]
    assert len(keys) == 5

    response = await hass.services.async_call(
        DOMAIN, "get_status", {}, blocking=True, return_response=True
    )
    garden = response["monitors"]["serial"]["Garden"]
    assert garden["connected"] is True
    assert garden["keys"] == ["door", "door_open", "humidity", "motion", "temperature"]


async def test_unplug_and_replug(hass: HomeAssistant, board: PtyBoard) -> None:
    """The board vanishing makes its entities unavailable; it comes back by itself."""
    entry = await _setup(hass, board)
    runtime = entry.runtime_data
    board.write(_line({"temperature": 20.0}))
    await wait_until(lambda: hass.states.get("sensor.garden_temperature") is not None)

    board.unplug()
    await wait_until(lambda: hass.states.get("binary_sensor.garden_connectivity").state == "off")
    assert hass.states.get("sensor.garden_temperature").state == "unavailable"
    problem = hass.states.get("binary_sensor.camera_alerts_problem")
    assert problem.attributes["problems"] == ["serial_disconnected:Garden"]

    board.plug()
    await wait_until(lambda: hass.states.get("binary_sensor.garden_connectivity").state == "on")
    board.write(_line({"temperature": 23.0}))
    await wait_until(lambda: hass.states.get("sensor.garden_temperature").state == "23.0")
    assert entry.runtime_data is runtime  # no reload


class StateWrites:
    """Count every state write (changed or only reported) per entity."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.counts: dict[str, int] = {}
        self._unsubs = [
            hass.bus.async_listen(event_type, self._count, event_filter=self._any)
            for event_type in (EVENT_STATE_CHANGED, EVENT_STATE_REPORTED)
        ]

    @staticmethod
    @callback
    def _any(_data: Any) -> bool:
        return True

    @callback
    def _count(self, event: Event) -> None:
        entity_id = event.data["entity_id"]
        self.counts[entity_id] = self.counts.get(entity_id, 0) + 1

    def close(self) -> None:
        for unsub in self._unsubs:
            unsub()


async def test_repeated_values_and_garbage_write_little(
    hass: HomeAssistant, board: PtyBoard
) -> None:
    """A board repeating itself writes no state; a flood of garbage a throttled few."""
    entry = await _setup(hass, board)
    state = next(iter(entry.runtime_data.serial_boards.values())).state
    reading = {"temperature": 21.4, "door": "open", "motion": True}
    board.write(_line(reading))
    await wait_until(lambda: hass.states.get("binary_sensor.garden_motion") is not None)
    lines = state.lines_total
    writes = StateWrites(hass)
    for _ in range(200):
        board.write(_line(reading))
    await wait_until(lambda: state.lines_total == lines + 200)
    await hass.async_block_till_done()
    for entity_id in (
        "sensor.garden_temperature",
        "sensor.garden_door",
        "binary_sensor.garden_motion",
        "binary_sensor.garden_connectivity",
        "sensor.garden_bad_lines",
    ):
        assert writes.counts.get(entity_id, 0) == 0, entity_id

    for _ in range(200):
        board.write(b"\xff\xfe garbage\n")
    await wait_until(lambda: state.errors_total == 200)
    # The last count is written after the pause, whatever came in between.
    await wait_until(lambda: hass.states.get("sensor.garden_bad_lines").state == "200")
    assert writes.counts["sensor.garden_bad_lines"] <= 10
    writes.close()

    board.write(_line({**reading, "temperature": 21.5}))
    await wait_until(lambda: hass.states.get("sensor.garden_temperature").state == "21.5")


async def test_problem_follows_the_board_at_once(
    hass: HomeAssistant, board: PtyBoard
) -> None:
    """`Problem` drops `serial_disconnected` as soon as the board is back."""
    await _setup(hass, board)
    await hass.async_block_till_done()
    problem = "binary_sensor.camera_alerts_problem"
    assert hass.states.get(problem).attributes["problems"] == []

    board.unplug()
    await wait_until(lambda: hass.states.get("binary_sensor.garden_connectivity").state == "off")
    await hass.async_block_till_done()
    assert hass.states.get(problem).attributes["problems"] == ["serial_disconnected:Garden"]

    board.plug()
    await wait_until(lambda: hass.states.get("binary_sensor.garden_connectivity").state == "on")
    await hass.async_block_till_done()
    assert hass.states.get(problem).attributes["problems"] == []
    assert hass.states.get(problem).state == "off"


async def test_send_serial(hass: HomeAssistant, board: PtyBoard) -> None:
    """Commands arrive on the board; bad calls get translated errors."""
    await _setup(hass, board)
    await hass.services.async_call(
        DOMAIN, "send_serial", {"board": "Garden", "line": "led=on"}, blocking=True
    )
    assert await board.read_line() == b"led=on"

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "send_serial", {"board": "Kitchen", "line": "x"}, blocking=True
        )
    assert err.value.translation_key == "board_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "send_serial", {"board": "Garden", "line": "a\nb"}, blocking=True
        )
    assert err.value.translation_key == "invalid_command"

    board.unplug()
    await wait_until(lambda: hass.states.get("binary_sensor.garden_connectivity").state == "off")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "send_serial", {"board": "Garden", "line": "led=off"}, blocking=True
        )
    assert err.value.translation_key == "board_not_connected"


async def test_keys_restored_after_reload(hass: HomeAssistant, board: PtyBoard) -> None:
    """Entities known before a restart exist again before the board speaks."""
    entry = await _setup(hass, board)
    board.write(_line({"pressure": 1013.2, "window": True}))
    await wait_until(lambda: hass.states.get("binary_sensor.garden_window") is not None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.garden_pressure") is not None
    assert hass.states.get("binary_sensor.garden_window") is not None


async def test_serial_flow(hass: HomeAssistant, board: PtyBoard, tmp_path: Path) -> None:
    """The flow opens the port before saving and refuses what it cannot open."""
    entry = MockConfigEntry(
        domain=DOMAIN, data={CONF_MODEL_PATH: "", CONF_INFERENCE_THREADS: 2}
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)

    async def start() -> dict:
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_SERIAL), context={"source": SOURCE_USER}
        )
        assert result["type"] is FlowResultType.FORM
        return result

    result = await start()
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PORT: str(tmp_path / "ttyNOPE"), CONF_BAUDRATE: "115200"}
    )
    assert result["errors"] == {CONF_PORT: "cannot_connect"}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PORT: str(board.link_path), CONF_BAUDRATE: "9600"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "ttyESP32"
    assert result["data"] == {
        CONF_NAME: "ttyESP32", CONF_PORT: str(board.link_path), CONF_BAUDRATE: 9600,
    }
    await hass.async_block_till_done()
    await wait_until(lambda: hass.states.get("binary_sensor.ttyesp32_connectivity").state == "on")

    result = await start()
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PORT: str(board.link_path), CONF_BAUDRATE: "9600"}
    )
    assert result["errors"] == {CONF_PORT: "already_configured"}

    subentry = next(iter(entry.subentries.values()))
    result = await start_subentry_reconfigure(hass, entry, subentry.subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PORT: str(board.link_path), CONF_BAUDRATE: "115200"}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.subentries[subentry.subentry_id].data[CONF_BAUDRATE] == 115200

    hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.serial_boards == {}
    assert hass.states.get("binary_sensor.ttyesp32_connectivity") is None
