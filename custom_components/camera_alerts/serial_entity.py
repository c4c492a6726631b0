"""Entities of ESP32 serial boards: one per key the board sends, plus health."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.components.sensor.const import DEVICE_CLASS_UNITS
from homeassistant.const import EntityCategory
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later

from .const import DOMAIN
from .runtime import CameraAlertsConfigEntry
from .serial.board import KeyState, ValueKind
from .serial_runtime import SerialBoardRuntime

# At 1,000 lines/s the last-message time would be a state write per line.
LAST_MESSAGE_MIN_INTERVAL_S = 5.0
# A board sending garbage many times a second: the counter is written this often at most.
ERRORS_MIN_INTERVAL_S = 5.0


def _sensor_device_class(key: KeyState) -> SensorDeviceClass | None:
    """Accept the board's device class only where HA knows it and the unit fits."""
    if key.device_class is None:
        return None
    try:
        device_class = SensorDeviceClass(key.device_class)
    except ValueError:
        return None
    if device_class is SensorDeviceClass.ENUM:
        return None
    units = DEVICE_CLASS_UNITS.get(device_class)
    if units is not None and key.unit not in units:
        return None
    return device_class


def _binary_device_class(key: KeyState) -> BinarySensorDeviceClass | None:
    if key.device_class is None:
        return None
    try:
        return BinarySensorDeviceClass(key.device_class)
    except ValueError:
        return None


class SerialEntity(Entity):
    """An entity of one board; unavailable while the board is unreachable."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, board: SerialBoardRuntime, unique_suffix: str) -> None:
        """Attach to the board's device."""
        self.board = board
        self._written_connected: bool | None = None
        self._attr_unique_id = f"{board.subentry.subentry_id}_{unique_suffix}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, board.subentry.subentry_id)},
            name=board.name,
            manufacturer="Camera Alerts",
            model="ESP32 serial board",
        )

    async def async_added_to_hass(self) -> None:
        """Follow the board's updates."""
        self.async_on_remove(self.board.state.add_update_listener(self._on_update))

    @property
    def available(self) -> bool:
        """Available while the port is open."""
        return self.board.state.connected

    @callback
    def _on_update(self, changed: frozenset[str]) -> None:
        # A board repeating the same values changes nothing: no state write (and
        # no recorder row) unless this entity's value or the connection moved.
        if self.board.state.connected != self._written_connected or self._wants(
            changed
        ):
            self.async_write_ha_state()

    @callback
    def async_write_ha_state(self) -> None:
        """Write the state, remembering the connection it showed."""
        self._written_connected = self.board.state.connected
        super().async_write_ha_state()

    def _wants(self, changed: frozenset[str]) -> bool:
        return False


class SerialValueSensor(SerialEntity, SensorEntity):
    """A numeric or text value the board sends."""

    def __init__(self, board: SerialBoardRuntime, key: KeyState) -> None:
        """Describe the sensor from what the board said about the key."""
        super().__init__(board, f"key_{key.key}")
        self.key = key.key
        self._attr_name = key.name
        if key.kind is ValueKind.NUMERIC:
            self._attr_native_unit_of_measurement = key.unit
            self._attr_device_class = _sensor_device_class(key)
            if key.state_class is not None:
                self._attr_state_class = SensorStateClass(key.state_class.value)

    def _wants(self, changed: frozenset[str]) -> bool:
        return self.key in changed

    @property
    def native_value(self) -> Any:
        """Return the latest value."""
        return self.board.state.keys[self.key].value


class SerialValueBinarySensor(SerialEntity, BinarySensorEntity):
    """A true/false value the board sends."""

    def __init__(self, board: SerialBoardRuntime, key: KeyState) -> None:
        """Describe the binary sensor from what the board said about the key."""
        super().__init__(board, f"key_{key.key}")
        self.key = key.key
        self._attr_name = key.name
        self._attr_device_class = _binary_device_class(key)

    def _wants(self, changed: frozenset[str]) -> bool:
        return self.key in changed

    @property
    def is_on(self) -> bool | None:
        """Return the latest value."""
        value = self.board.state.keys[self.key].value
        return None if value is None else bool(value)


class SerialConnectivity(SerialEntity, BinarySensorEntity):
    """On while the board's port is open; always available."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, board: SerialBoardRuntime) -> None:
        """Attach to the board."""
        super().__init__(board, "connectivity")

    @property
    def available(self) -> bool:
        """Always report."""
        return True

    @property
    def is_on(self) -> bool:
        """Return True while connected."""
        return self.board.state.connected


class SerialLastMessage(SerialEntity, SensorEntity):
    """When the board last sent a usable line."""

    _attr_device_class = SensorDeviceClass.TIMESTAMP
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "serial_last_message"

    def __init__(self, board: SerialBoardRuntime) -> None:
        """Attach to the board."""
        super().__init__(board, "last_message")
        self._written_at: datetime | None = None

    def _wants(self, changed: frozenset[str]) -> bool:
        last = self.board.state.last_message
        if last is None:
            return False
        if self._written_at is None or (
            (last - self._written_at).total_seconds() >= LAST_MESSAGE_MIN_INTERVAL_S
        ):
            self._written_at = last
            return True
        return False

    @property
    def native_value(self) -> datetime | None:
        """Return the time of the last accepted line."""
        return self.board.state.last_message


class SerialErrors(SerialEntity, SensorEntity):
    """How many bad lines the board sent, by kind."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_state_class = SensorStateClass.TOTAL_INCREASING
    _attr_translation_key = "serial_errors"

    def __init__(self, board: SerialBoardRuntime) -> None:
        """Attach to the board."""
        super().__init__(board, "errors")
        self._written_at = float("-inf")
        self._pending: CALLBACK_TYPE | None = None

    async def async_added_to_hass(self) -> None:
        """Also follow the error counters."""
        await super().async_added_to_hass()
        self.async_on_remove(self.board.state.add_error_listener(self._on_error))
        self.async_on_remove(self._cancel_pending)

    @callback
    def _on_error(self, _kind: Any) -> None:
        # Garbage can arrive at line rate: write at once, then at most every few
        # seconds, and once more at the end so the last count is shown.
        if self._pending is not None:
            return
        wait = self._written_at + ERRORS_MIN_INTERVAL_S - self.hass.loop.time()
        if wait <= 0:
            self.async_write_ha_state()
        else:
            self._pending = async_call_later(self.hass, wait, self._write_pending)

    @callback
    def _write_pending(self, _now: datetime) -> None:
        self._pending = None
        self.async_write_ha_state()

    @callback
    def _cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending()
            self._pending = None

    @callback
    def async_write_ha_state(self) -> None:
        """Write the counters and note when."""
        self._written_at = self.hass.loop.time()
        super().async_write_ha_state()

    @property
    def native_value(self) -> int:
        """Return the number of problems counted since start."""
        return self.board.state.errors_total

    @property
    def extra_state_attributes(self) -> dict[str, int]:
        """Return the count of each kind of problem."""
        return {str(kind.value): count for kind, count in self.board.state.errors.items()}


def async_setup_board_entities(
    entry: CameraAlertsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    fixed: Callable[[SerialBoardRuntime], Iterable[Entity]],
    for_key: Callable[[SerialBoardRuntime, KeyState], Entity | None],
) -> None:
    """Add each board's fixed entities and one per key, now and as keys appear."""
    for board in entry.runtime_data.serial_boards.values():
        subentry_id = board.subentry.subentry_id

        def add_keys(board: SerialBoardRuntime, keys: Iterable[KeyState], subentry_id: str = subentry_id) -> None:
            entities = [e for key in keys if (e := for_key(board, key)) is not None]
            if entities:
                async_add_entities(entities, config_subentry_id=subentry_id)

        async_add_entities(list(fixed(board)), config_subentry_id=subentry_id)
        add_keys(board, list(board.state.keys.values()))

        def on_new_key(key: str, board: SerialBoardRuntime = board, add: Callable[..., None] = add_keys) -> None:
            add(board, [board.state.keys[key]])

        entry.async_on_unload(board.state.add_new_key_listener(on_new_key))
