"""The example sketch and the log limiter speak the documented protocol."""

from __future__ import annotations

import logging
from pathlib import Path
import re

import pytest

from custom_components.camera_alerts.serial.board import BoardState, ValueKind
from custom_components.camera_alerts.serial.protocol import (
    Description,
    Reading,
    StateClass,
    parse_line,
)
from custom_components.camera_alerts.serial.ratelimit import RateLimitedLog

SKETCH = Path(__file__).parents[2] / "examples" / "esp32" / "camera_alerts_serial.ino"


def _c_strings(block: str) -> str:
    """Join the adjacent C string literals of a block, unescaping quotes."""
    joined = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', block))
    return joined.replace('\\"', '"').replace("\\n", "\n")


def _function_body(source: str, name: str) -> str:
    start = source.index(f"static void {name}()")
    return source[start : source.index("\n}\n", start)]


def test_sketch_description_and_report_parse() -> None:
    source = SKETCH.read_text(encoding="utf-8")
    description = parse_line(_c_strings(_function_body(source, "describe")).encode())
    assert isinstance(description, Description)
    assert description.errors == ()
    assert description.keys["chip_temperature"].unit == "°C"
    assert description.keys["uptime"].state_class is StateClass.TOTAL_INCREASING

    printf_args = _function_body(source, "report").split("Serial.printf(")[1]
    fmt = _c_strings(printf_args.split("temperatureRead()")[0])
    line = (fmt.replace("%lu", "%d") % (41.5, 12, 3, "true", "power_on")).rstrip("\n")
    reading = parse_line(line.encode())
    assert isinstance(reading, Reading)
    assert reading.errors == ()

    board = BoardState()
    board.apply(description)
    board.apply(reading)
    assert set(board.keys) == set(description.keys)
    assert board.keys["led"].kind is ValueKind.BINARY
    assert board.keys["chip_temperature"].value == 41.5
    assert board.keys["reset_reason"].kind is ValueKind.TEXT


def test_rate_limited_log_counts_what_it_suppresses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("test.serial"), 600.0, lambda: now[0])
    with caplog.at_level(logging.WARNING):
        assert log.log("a", logging.WARNING, "problem %s", 1)
        assert not log.log("a", logging.WARNING, "problem %s", 2)
        assert not log.log("a", logging.WARNING, "problem %s", 3)
        assert log.log("b", logging.WARNING, "other")
        now[0] = 600.0
        assert log.log("a", logging.WARNING, "problem %s", 4)
        log.reset("b")
        assert log.log("b", logging.WARNING, "other again")
    assert [r.getMessage() for r in caplog.records] == [
        "problem 1",
        "other",
        "problem 4 (2 similar messages suppressed)",
        "other again",
    ]
