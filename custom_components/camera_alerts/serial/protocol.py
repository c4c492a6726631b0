"""Line protocol spoken by the serial boards (see docs/serial-protocol.md).

Pure functions: one raw line (bytes, without its terminator) in, one typed
result out. Nothing here raises for bad input; every problem becomes an
`ErrorKind` so the caller can count it instead of logging a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
import json
import math
import re
from typing import Any, Final

MAX_LINE_BYTES: Final = 4096
MAX_KEY_LENGTH: Final = 32
MAX_STRING_LENGTH: Final = 255
MAX_UNIT_LENGTH: Final = 16
MAX_NAME_LENGTH: Final = 64
MAX_DEVICE_CLASS_LENGTH: Final = 40
# Integers beyond 64 bits are never a sensor reading, and huge ones are slow to print.
MAX_INT_MAGNITUDE: Final = 2**63
DESCRIBE_MARKER: Final = "#describe"
COMMENT_MARKER: Final = "#"

type Value = bool | int | float | str
"""A reading value; `None` in a `Reading` means the board has no value now."""


class ErrorKind(StrEnum):
    """Closed set of things that can be wrong with input from a board."""

    INVALID_UTF8 = "invalid_utf8"
    BINARY = "binary"
    TOO_LONG = "too_long"
    BAD_JSON = "bad_json"
    BAD_PAIR = "bad_pair"
    BAD_KEY = "bad_key"
    BAD_VALUE = "bad_value"
    VALUE_TOO_LONG = "value_too_long"
    BAD_DESCRIPTION = "bad_description"
    TYPE_CHANGED = "type_changed"
    ENTITY_LIMIT = "entity_limit"


class StateClass(StrEnum):
    """State classes a description may ask for (numeric keys only)."""

    MEASUREMENT = "measurement"
    TOTAL = "total"
    TOTAL_INCREASING = "total_increasing"


@dataclass(frozen=True, slots=True)
class Reading:
    """A data line: normalised key -> value, plus per-key problems.

    A bad key or value drops only that key; the rest of the line is kept.
    """

    values: dict[str, Value | None]
    errors: tuple[ErrorKind, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyDescription:
    """What a `#describe` line says about one key; every field is optional."""

    name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: StateClass | None = None


@dataclass(frozen=True, slots=True)
class Description:
    """A `#describe` line: metadata per normalised key."""

    keys: dict[str, KeyDescription]
    errors: tuple[ErrorKind, ...] = ()


@dataclass(frozen=True, slots=True)
class LineError:
    """A line rejected as a whole."""

    kind: ErrorKind


type ParseResult = Reading | Description | LineError | None
"""`None` is a line with nothing to do: blank or a `#` comment."""


@dataclass(slots=True)
class _Collector:
    """Accumulates values and per-key errors while walking one line."""

    values: dict[str, Value | None] = field(default_factory=dict)
    errors: list[ErrorKind] = field(default_factory=list)


_NON_KEY_CHARS: Final = re.compile(r"[^a-z0-9]+")
_PAIR_SEPARATORS: Final = re.compile(r"[\s,;]+")
_NUMBER: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER: Final = re.compile(r"[+-]?\d+")
_DEVICE_CLASS: Final = re.compile(r"[a-z0-9_]+")
_STATE_CLASSES: Final = frozenset(item.value for item in StateClass)
_TRUE_WORDS: Final = frozenset({"true", "on"})
_FALSE_WORDS: Final = frozenset({"false", "off"})
# C0/C1 control characters and DEL mean noise or a wrong baud rate; tab is
# the one control character a board may legitimately send (as a separator).
_CONTROL_CHARS: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


# Boards repeat the same few keys on every line; a bounded cache makes the
# regex a one-time cost per key without letting random keys grow memory.
@lru_cache(maxsize=1024)
def normalize_key(raw: str) -> str | None:
    """Return the key as `[a-z0-9_]{1,32}`, or None when nothing valid is left.

    Case is folded and any run of other characters becomes one `_`, so
    `Temp-C`, `temp c` and `temp.c` all name the same entity `temp_c`.
    """
    key = _NON_KEY_CHARS.sub("_", raw.lower()).strip("_")
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    return key


def _is_printable(text: str) -> bool:
    return _CONTROL_CHARS.search(text) is None


def parse_line(raw: bytes) -> ParseResult:
    """Parse one line (terminator already removed) from a board."""
    if len(raw) > MAX_LINE_BYTES:
        return LineError(ErrorKind.TOO_LONG)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return LineError(ErrorKind.INVALID_UTF8)
    # Boards often end lines with "\r\n"; a stray "\r" is not noise.
    text = text.strip(" \t\r")
    if not _is_printable(text):
        return LineError(ErrorKind.BINARY)
    if not text:
        return None
    if text.startswith("{"):
        return _parse_json_line(text)
    if text.startswith(DESCRIBE_MARKER) and (
        len(text) == len(DESCRIBE_MARKER) or text[len(DESCRIBE_MARKER)] in " \t{"
    ):
        return _parse_description(text[len(DESCRIBE_MARKER) :])
    if text.startswith(COMMENT_MARKER):
        return None
    return _parse_pairs(text)


def _reject_constant(name: str) -> Any:
    # json accepts NaN/Infinity by default; neither is a usable sensor value.
    raise ValueError(name)


def _load_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _parse_json_line(text: str) -> ParseResult:
    data = _load_object(text)
    if data is None:
        return LineError(ErrorKind.BAD_JSON)
    collector = _Collector()
    _collect_json(data, "", collector)
    if not collector.values and collector.errors:
        return LineError(collector.errors[0])
    return Reading(collector.values, tuple(collector.errors))


def _collect_json(data: dict[str, Any], prefix: str, collector: _Collector) -> None:
    """Flatten nested objects: `{"bme": {"t": 1}}` gives key `bme_t`."""
    for raw_key, raw_value in data.items():
        if isinstance(raw_value, dict):
            nested_prefix = f"{prefix}{raw_key}_"
            if len(nested_prefix) > MAX_KEY_LENGTH:
                # No key below this level can fit; stop before walking deep nesting.
                collector.errors.append(ErrorKind.BAD_KEY)
                continue
            _collect_json(raw_value, nested_prefix, collector)
            continue
        key = normalize_key(prefix + raw_key)
        if key is None:
            collector.errors.append(ErrorKind.BAD_KEY)
            continue
        value = _json_value(raw_value)
        if isinstance(value, ErrorKind):
            collector.errors.append(value)
            continue
        collector.values[key] = value


def _json_value(raw: Any) -> Value | None | ErrorKind:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int):
        return _checked_int(raw)
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else ErrorKind.BAD_VALUE
    if isinstance(raw, str):
        return _checked_string(raw)
    return ErrorKind.BAD_VALUE


def _checked_int(raw: int) -> int | ErrorKind:
    return raw if -MAX_INT_MAGNITUDE < raw < MAX_INT_MAGNITUDE else ErrorKind.BAD_VALUE


def _checked_string(raw: str) -> str | ErrorKind:
    if len(raw) > MAX_STRING_LENGTH:
        return ErrorKind.VALUE_TOO_LONG
    if not _is_printable(raw):
        return ErrorKind.BAD_VALUE
    return raw


def _parse_pairs(text: str) -> ParseResult:
    collector = _Collector()
    for token in _PAIR_SEPARATORS.split(text):
        if not token:
            continue
        raw_key, sep, raw_value = token.partition("=")
        if not sep or not raw_value:
            collector.errors.append(ErrorKind.BAD_PAIR)
            continue
        key = normalize_key(raw_key)
        if key is None:
            collector.errors.append(ErrorKind.BAD_KEY)
            continue
        value = _pair_value(raw_value)
        if isinstance(value, ErrorKind):
            collector.errors.append(value)
            continue
        collector.values[key] = value
    if not collector.values:
        return LineError(
            collector.errors[0] if collector.errors else ErrorKind.BAD_PAIR
        )
    return Reading(collector.values, tuple(collector.errors))


def _pair_value(raw: str) -> Value | ErrorKind:
    lowered = raw.lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    if _INTEGER.fullmatch(raw):
        return _checked_int(int(raw))
    if _NUMBER.fullmatch(raw):
        number = float(raw)
        return number if math.isfinite(number) else ErrorKind.BAD_VALUE
    return _checked_string(raw)


def _parse_description(body: str) -> ParseResult:
    data = _load_object(body.strip())
    if data is None:
        return LineError(ErrorKind.BAD_DESCRIPTION)
    keys: dict[str, KeyDescription] = {}
    errors: list[ErrorKind] = []
    for raw_key, raw_meta in data.items():
        key = normalize_key(raw_key)
        if key is None:
            errors.append(ErrorKind.BAD_KEY)
            continue
        meta = key_description_from_json(raw_meta)
        if meta is None:
            errors.append(ErrorKind.BAD_DESCRIPTION)
            continue
        keys[key] = meta
    if not keys and errors:
        return LineError(errors[0])
    return Description(keys, tuple(errors))


class _InvalidField(Exception):
    """A description field is present but unusable."""


def key_description_from_json(raw: Any) -> KeyDescription | None:
    """Validate one key's metadata (a JSON object); None when unusable.

    Unknown fields are ignored for forward compatibility.
    """
    if not isinstance(raw, dict):
        return None
    try:
        name = _optional_text(raw.get("name"), MAX_NAME_LENGTH)
        unit = _optional_text(raw.get("unit"), MAX_UNIT_LENGTH)
        device_class = _optional_text(raw.get("device_class"), MAX_DEVICE_CLASS_LENGTH)
    except _InvalidField:
        return None
    if device_class is not None and not _DEVICE_CLASS.fullmatch(device_class):
        return None
    raw_state_class = raw.get("state_class")
    state_class: StateClass | None = None
    if raw_state_class is not None:
        if raw_state_class not in _STATE_CLASSES:
            return None
        state_class = StateClass(raw_state_class)
    return KeyDescription(
        name=name, unit=unit, device_class=device_class, state_class=state_class
    )


def _optional_text(raw: Any, limit: int) -> str | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, str)
        or not raw
        or len(raw) > limit
        or not _is_printable(raw)
    ):
        raise _InvalidField
    return raw


class CommandError(ValueError):
    """A command for the board cannot be sent as one line."""


def encode_command(text: str) -> bytes:
    """Return the wire form of a command: the text plus a newline.

    The board reads one command per line, so the text itself must not hold a
    line break or other control characters, and must fit the line cap.
    """
    if not text or not _is_printable(text):
        raise CommandError("command must be non-empty printable text on one line")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise CommandError("command is not encodable as UTF-8") from err
    if len(data) > MAX_LINE_BYTES:
        raise CommandError(f"command is longer than {MAX_LINE_BYTES} bytes")
    return data + b"\n"
