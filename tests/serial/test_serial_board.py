"""BoardState: keys, kinds, metadata, limits, listeners and restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.camera_alerts.serial.board import BoardState, ValueKind
from custom_components.camera_alerts.serial.protocol import ErrorKind, StateClass

START = datetime(2025, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def make_board(
    max_keys: int = 64,
) -> tuple[BoardState, list[str], list[frozenset[str]]]:
    board = BoardState(max_keys=max_keys, clock=Clock())
    new_keys: list[str] = []
    updates: list[frozenset[str]] = []
    board.add_new_key_listener(new_keys.append)
    board.add_update_listener(updates.append)
    return board, new_keys, updates


def test_first_values_create_keys_with_kinds_and_defaults() -> None:
    board, new_keys, updates = make_board()
    board.handle_line(
        b'{"temperature": 21.4, "humidity": 48, "door": "open", "motion": true}'
    )
    assert new_keys == ["temperature", "humidity", "door", "motion"]
    assert updates == [frozenset(new_keys)]
    temperature = board.keys["temperature"]
    assert temperature.kind is ValueKind.NUMERIC
    assert temperature.value == 21.4
    assert temperature.name == "Temperature"
    assert temperature.unit is None
    assert temperature.state_class is StateClass.MEASUREMENT
    assert board.keys["humidity"].kind is ValueKind.NUMERIC
    assert board.keys["door"].kind is ValueKind.TEXT
    assert board.keys["door"].state_class is None
    assert board.keys["motion"].kind is ValueKind.BINARY
    assert board.last_message == START + timedelta(seconds=1)
    assert board.lines_total == 1
    assert board.errors_total == 0


def test_updates_report_only_changed_keys() -> None:
    board, new_keys, updates = make_board()
    board.handle_line(b"a=1 b=2")
    board.handle_line(b"a=1 b=3")
    board.handle_line(b"a=1.0 b=3")  # int -> float of equal value is still an update
    assert new_keys == ["a", "b"]
    assert updates[1:] == [frozenset({"b"}), frozenset({"a"})]
    assert board.keys["a"].value == 1.0
    assert isinstance(board.keys["a"].value, float)


def test_type_change_is_counted_and_the_first_type_kept() -> None:
    board, _, updates = make_board()
    board.handle_line(b'{"door": "open", "t": 1}')
    board.handle_line(b'{"door": true, "t": 2}')
    assert board.keys["door"].kind is ValueKind.TEXT
    assert board.keys["door"].value == "open"
    assert board.keys["t"].value == 2
    assert board.errors[ErrorKind.TYPE_CHANGED] == 1
    assert updates[-1] == frozenset({"t"})


def test_null_clears_a_known_value_and_does_not_create_keys() -> None:
    board, new_keys, _ = make_board()
    board.handle_line(b'{"t": 20}')
    board.handle_line(b'{"t": null, "unknown": null}')
    assert board.keys["t"].value is None
    assert new_keys == ["t"]
    board.handle_line(b'{"t": 21}')
    assert board.keys["t"].value == 21


def test_entity_limit_caps_keys_and_flags_a_repair() -> None:
    board, new_keys, _ = make_board(max_keys=3)
    board.handle_line(b"a=1 b=2 c=3 d=4 e=5")
    board.handle_line(b"a=9 f=6")
    assert new_keys == ["a", "b", "c"]
    assert board.keys["a"].value == 9
    assert board.errors[ErrorKind.ENTITY_LIMIT] == 3
    assert board.limit_reached


def test_errors_are_counted_per_kind_and_listeners_hear_them() -> None:
    board, _, updates = make_board()
    heard: list[ErrorKind] = []
    unsubscribe = board.add_error_listener(heard.append)
    board.handle_line(b"\xff")
    board.handle_line(b"noise")
    board.handle_line(b'{"ok": 1, "bad": [1]}')
    unsubscribe()
    board.handle_line(b"\x00")
    assert heard == [ErrorKind.INVALID_UTF8, ErrorKind.BAD_PAIR, ErrorKind.BAD_VALUE]
    assert board.errors[ErrorKind.BINARY] == 1
    assert board.errors_total == 4
    assert board.lines_total == 4
    # Only the line with a usable value counts as a message.
    assert len(updates) == 1


def test_description_before_and_after_first_value() -> None:
    board, _, updates = make_board()
    board.handle_line(
        '#describe {"temperature": {"unit": "°C", "device_class": "temperature",'
        ' "name": "Water"}}'.encode()
    )
    assert board.keys == {}
    assert "temperature" in board.pending_descriptions
    board.handle_line(b'{"temperature": 30.5, "boots": 3}')
    temperature = board.keys["temperature"]
    assert (temperature.name, temperature.unit, temperature.device_class) == (
        "Water",
        "°C",
        "temperature",
    )
    assert board.pending_descriptions == {}
    board.handle_line(b'#describe {"boots": {"state_class": "total_increasing"}}')
    assert updates[-1] == frozenset({"boots"})
    assert board.keys["boots"].state_class is StateClass.TOTAL_INCREASING


def test_units_apply_only_to_numbers() -> None:
    board, _, _ = make_board()
    board.handle_line(b'#describe {"door": {"unit": "m"}}')
    board.handle_line(b"door=open")
    assert board.keys["door"].unit is None


def test_connectivity_changes_notify_once() -> None:
    board, _, updates = make_board()
    board.set_connected(True)
    board.set_connected(True)
    board.set_connected(False)
    assert updates == [frozenset(), frozenset()]
    assert not board.connected


def test_restore_round_trip_makes_known_keys_exist_at_once() -> None:
    board, _, _ = make_board()
    board.handle_line(
        '#describe {"t": {"unit": "°C", "name": "Tank"}, "later": {"unit": "V"}}'.encode()
    )
    board.handle_line(b"t=1.5 led=on mode=auto")
    restored = BoardState.from_dict(board.as_dict())
    assert list(restored.keys) == ["t", "led", "mode"]
    assert restored.keys["t"].name == "Tank"
    assert restored.keys["t"].unit == "°C"
    assert restored.keys["led"].kind is ValueKind.BINARY
    assert restored.keys["t"].value is None
    assert restored.pending_descriptions["later"].unit == "V"
    # The restored kind still guards against type changes.
    restored.handle_line(b"led=12")
    assert restored.errors[ErrorKind.TYPE_CHANGED] == 1


def test_restore_skips_damaged_entries() -> None:
    data = {
        "version": 1,
        "keys": {
            "ok": {"kind": "numeric", "unit": "V"},
            "Not Normal": {"kind": "numeric"},
            "badkind": {"kind": "matrix"},
            "badmeta": {"kind": "text", "unit": 7},
            "notadict": 3,
        },
        "pending_descriptions": ["wrong"],
    }
    restored = BoardState.from_dict(data)
    assert list(restored.keys) == ["ok"]
    assert BoardState.from_dict({"version": 99, "keys": data["keys"]}).keys == {}
    assert BoardState.from_dict({}).keys == {}


def test_restore_respects_a_lower_key_cap() -> None:
    board, _, _ = make_board()
    board.handle_line(b"a=1 b=2 c=3")
    assert list(BoardState.from_dict(board.as_dict(), max_keys=2).keys) == ["a", "b"]
