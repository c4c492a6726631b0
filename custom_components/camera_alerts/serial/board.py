"""Per-board model: what the entity platforms render for one serial board.

`BoardState` turns parse results into known keys (one entity each), latest
values, connectivity, the last message time and error counters. The first
value seen fixes a key's kind; later values of another kind are counted as
`type_changed` and ignored, so an entity never flips between sensor types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from .protocol import (
    Description,
    ErrorKind,
    KeyDescription,
    LineError,
    ParseResult,
    Reading,
    StateClass,
    Value,
    key_description_from_json,
    normalize_key,
    parse_line,
)

DEFAULT_MAX_KEYS: Final = 64
STORAGE_VERSION: Final = 1

type NewKeyListener = Callable[[str], None]
type UpdateListener = Callable[[frozenset[str]], None]
type ErrorListener = Callable[[ErrorKind], None]


class ValueKind(StrEnum):
    """Which entity a key becomes."""

    NUMERIC = "numeric"  # sensor, state class measurement unless described
    BINARY = "binary"  # binary sensor
    TEXT = "text"  # sensor without unit or state class


_KINDS: Final = frozenset(item.value for item in ValueKind)


def kind_of(value: Value) -> ValueKind:
    """Classify a value; bool is checked first because it is an int in Python."""
    if isinstance(value, bool):
        return ValueKind.BINARY
    if isinstance(value, int | float):
        return ValueKind.NUMERIC
    return ValueKind.TEXT


def default_name(key: str) -> str:
    """Friendly name when the board does not describe the key: `room_temp` -> `Room temp`."""
    return key.replace("_", " ").capitalize()


@dataclass(slots=True)
class KeyState:
    """One key the board has sent: its fixed kind, metadata and latest value."""

    key: str
    kind: ValueKind
    description: KeyDescription = field(default_factory=KeyDescription)
    value: Value | None = None

    @property
    def name(self) -> str:
        """Friendly name from the description, else derived from the key."""
        return self.description.name or default_name(self.key)

    @property
    def unit(self) -> str | None:
        """Unit of measurement; numeric keys only."""
        return self.description.unit if self.kind is ValueKind.NUMERIC else None

    @property
    def device_class(self) -> str | None:
        """Device class as the board wrote it; the platform validates it."""
        return self.description.device_class

    @property
    def state_class(self) -> StateClass | None:
        """Numeric keys default to measurement so they get long-term statistics."""
        if self.kind is not ValueKind.NUMERIC:
            return None
        return self.description.state_class or StateClass.MEASUREMENT


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BoardState:
    """Everything known about one board, fed line by line."""

    def __init__(
        self,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Start empty; use `from_dict` to start with keys known before a restart."""
        self.max_keys = max_keys
        self._clock = clock
        self.keys: dict[str, KeyState] = {}
        # Descriptions of keys not seen yet: applied when the first value arrives.
        self.pending_descriptions: dict[str, KeyDescription] = {}
        self.connected = False
        self.last_message: datetime | None = None
        self.lines_total = 0
        self.errors: dict[ErrorKind, int] = dict.fromkeys(ErrorKind, 0)
        self.limit_reached = False
        self._new_key_listeners: list[NewKeyListener] = []
        self._update_listeners: list[UpdateListener] = []
        self._error_listeners: list[ErrorListener] = []

    @property
    def errors_total(self) -> int:
        """All problems counted since start (the diagnostic sensor's state)."""
        return sum(self.errors.values())

    def add_new_key_listener(self, listener: NewKeyListener) -> Callable[[], None]:
        """Call `listener(key)` when a key gets its first value; returns an unsubscribe."""
        return _subscribe(self._new_key_listeners, listener)

    def add_update_listener(self, listener: UpdateListener) -> Callable[[], None]:
        """Call `listener(changed_keys)` after each accepted line and on (dis)connect.

        `changed_keys` holds keys whose value or metadata changed; it is empty
        when only the last message time or the connectivity changed.
        """
        return _subscribe(self._update_listeners, listener)

    def add_error_listener(self, listener: ErrorListener) -> Callable[[], None]:
        """Call `listener(kind)` for every counted problem (after counting)."""
        return _subscribe(self._error_listeners, listener)

    def handle_line(self, raw: bytes) -> None:
        """Parse and apply one line as it came off the wire."""
        self.apply(parse_line(raw))

    def apply(self, result: ParseResult) -> None:
        """Apply one parse result."""
        self.lines_total += 1
        if result is None:
            return
        if isinstance(result, LineError):
            self.record_error(result.kind)
            return
        if isinstance(result, Reading):
            changed = self._apply_reading(result)
        else:
            changed = self._apply_description(result)
        for kind in result.errors:
            self.record_error(kind)
        self.last_message = self._clock()
        for update_listener in list(self._update_listeners):
            update_listener(changed)

    def record_error(self, kind: ErrorKind) -> None:
        """Count one problem; also used by the link for overlong lines."""
        self.errors[kind] += 1
        if kind is ErrorKind.ENTITY_LIMIT:
            self.limit_reached = True
        for listener in list(self._error_listeners):
            listener(kind)

    def set_connected(self, connected: bool) -> None:
        """Record the link state; listeners hear only real changes."""
        if connected == self.connected:
            return
        self.connected = connected
        for listener in list(self._update_listeners):
            listener(frozenset())

    def _apply_reading(self, reading: Reading) -> frozenset[str]:
        changed: set[str] = set()
        new_keys: list[str] = []
        for key, value in reading.values.items():
            state = self.keys.get(key)
            if state is None:
                if value is None:
                    # Nothing tells us the kind yet; wait for a real value.
                    continue
                if len(self.keys) >= self.max_keys:
                    self.record_error(ErrorKind.ENTITY_LIMIT)
                    continue
                state = KeyState(
                    key=key,
                    kind=kind_of(value),
                    description=self.pending_descriptions.pop(key, KeyDescription()),
                )
                self.keys[key] = state
                new_keys.append(key)
            elif value is not None and kind_of(value) is not state.kind:
                self.record_error(ErrorKind.TYPE_CHANGED)
                continue
            if state.value != value or type(state.value) is not type(value):
                state.value = value
                changed.add(key)
        for key in new_keys:
            for listener in list(self._new_key_listeners):
                listener(key)
        return frozenset(changed)

    def _apply_description(self, description: Description) -> frozenset[str]:
        changed: set[str] = set()
        for key, meta in description.keys.items():
            state = self.keys.get(key)
            if state is not None:
                if state.description != meta:
                    state.description = meta
                    changed.add(key)
            elif (
                key in self.pending_descriptions
                or len(self.pending_descriptions) < self.max_keys
            ):
                self.pending_descriptions[key] = meta
            else:
                self.record_error(ErrorKind.ENTITY_LIMIT)
        return frozenset(changed)

    def as_dict(self) -> dict[str, Any]:
        """Return a serialisable snapshot of what must survive a restart (keys and metadata).

        Values and counters are left out on purpose: a restored value would be
        stale, and the platforms restore last states through Home Assistant.
        """
        return {
            "version": STORAGE_VERSION,
            "keys": {
                key: {"kind": state.kind.value, **_description_dict(state.description)}
                for key, state in self.keys.items()
            },
            "pending_descriptions": {
                key: _description_dict(meta)
                for key, meta in self.pending_descriptions.items()
            },
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], datetime] = _utcnow,
    ) -> BoardState:
        """Rebuild from `as_dict()` output; damaged entries are skipped, never fatal."""
        board = cls(max_keys=max_keys, clock=clock)
        if data.get("version") != STORAGE_VERSION:
            return board
        keys = data.get("keys")
        if isinstance(keys, Mapping):
            for raw_key, entry in keys.items():
                if len(board.keys) >= max_keys:
                    break
                restored = _restore_key(raw_key, entry)
                if restored is not None:
                    board.keys[restored.key] = restored
        pending = data.get("pending_descriptions")
        if isinstance(pending, Mapping):
            for raw_key, entry in pending.items():
                if len(board.pending_descriptions) >= max_keys:
                    break
                key = normalize_key(raw_key) if isinstance(raw_key, str) else None
                meta = _restore_description(entry)
                if key is not None and meta is not None and key not in board.keys:
                    board.pending_descriptions[key] = meta
        return board


def _subscribe[T](listeners: list[T], listener: T) -> Callable[[], None]:
    listeners.append(listener)

    def unsubscribe() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return unsubscribe


def _description_dict(meta: KeyDescription) -> dict[str, str | None]:
    return {
        "name": meta.name,
        "unit": meta.unit,
        "device_class": meta.device_class,
        "state_class": meta.state_class.value if meta.state_class else None,
    }


def _restore_key(raw_key: Any, entry: Any) -> KeyState | None:
    if not isinstance(raw_key, str) or not isinstance(entry, Mapping):
        return None
    key = normalize_key(raw_key)
    meta = _restore_description(entry)
    raw_kind = entry.get("kind")
    if raw_kind not in _KINDS:
        return None
    kind = ValueKind(raw_kind)
    if key is None or key != raw_key or meta is None:
        return None
    return KeyState(key=key, kind=kind, description=meta)


def _restore_description(entry: Any) -> KeyDescription | None:
    """Reuse the protocol's validation so a damaged store cannot inject bad metadata."""
    if not isinstance(entry, Mapping):
        return None
    return key_description_from_json(
        {name: value for name, value in entry.items() if value is not None}
    )
