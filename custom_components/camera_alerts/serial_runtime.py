"""The Home Assistant side of one ESP32 board on a serial port."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from .const import CONF_BAUDRATE, CONF_NAME, CONF_PORT, DOMAIN
from .lasting_issue import LastingProblemIssue
from .serial.board import BoardState
from .serial.monitor import SerialMonitor
from .serial.protocol import ErrorKind

STORAGE_VERSION = 1
# Keys are saved a little after they appear, so a burst of new keys is one write.
SAVE_DELAY_S = 5
BOARD_GONE_ISSUE_DELAY = timedelta(minutes=5)
# First retry after an unplug; doubles up to the monitor's cap.
RECONNECT_BACKOFF_S = 1.0


class SerialBoardRuntime:
    """Run one board: its monitor, the keys it has sent, and its repair issues."""

    def __init__(
        self,
        hass: HomeAssistant,
        subentry: ConfigSubentry,
        on_connection_change: Callable[[], None] | None = None,
    ) -> None:
        """Prepare the board; nothing runs until `async_start`.

        `on_connection_change()` is called when the port opens or closes.
        """
        self.hass = hass
        self.subentry = subentry
        self._on_connection_change = on_connection_change
        self._connected = False
        self.name: str = subentry.data[CONF_NAME]
        self.port: str = subentry.data[CONF_PORT]
        self.baudrate = int(subentry.data[CONF_BAUDRATE])
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.serial_{subentry.subentry_id}"
        )
        self.monitor: SerialMonitor | None = None
        self._unsubscribers: list[Callable[[], None]] = []
        self._gone_issue = LastingProblemIssue(
            hass,
            f"serial_gone_{subentry.subentry_id}",
            "serial_board_gone",
            BOARD_GONE_ISSUE_DELAY,
            lambda: {"board": self.name, "port": self.port},
        )

    @property
    def state(self) -> BoardState:
        """Return the board's model (available after `async_start`)."""
        assert self.monitor is not None
        return self.monitor.state

    async def async_start(self) -> None:
        """Restore the known keys, then open the port in the background."""
        stored = await self._store.async_load()
        state = BoardState.from_dict(stored) if stored else BoardState()
        self.monitor = SerialMonitor(
            self.port, self.baudrate, name=self.name, state=state,
            backoff_base=RECONNECT_BACKOFF_S,
        )  # fmt: skip
        self._unsubscribers += [
            state.add_new_key_listener(self._on_new_key),
            state.add_update_listener(self._on_update),
            state.add_error_listener(self._on_error),
        ]
        # Until the port opens, the board counts as gone.
        self._gone_issue.async_problem()
        await self.monitor.async_start()

    async def async_stop(self) -> None:
        """Close the port, save the keys and drop this board's repair issues."""
        while self._unsubscribers:
            self._unsubscribers.pop()()
        self._gone_issue.async_resolved()
        if self.monitor is not None:
            await self.monitor.async_stop()
            await self._store.async_save(self.monitor.state.as_dict())
        ir.async_delete_issue(self.hass, DOMAIN, self._limit_issue_id)

    async def async_remove(self) -> None:
        """Forget the saved keys (the subentry was deleted)."""
        await self._store.async_remove()

    async def async_send(self, line: str) -> None:
        """Send a command line to the board."""
        assert self.monitor is not None
        await self.monitor.async_send(line)

    def status(self) -> dict[str, Any]:
        """Return this board's part of the status document."""
        state = self.state
        return {
            "port": self.port,
            "connected": state.connected,
            "keys": sorted(state.keys),
            "lines": state.lines_total,
            "errors": state.errors_total,
            "last_message": state.last_message.isoformat() if state.last_message else None,
        }

    @callback
    def _on_new_key(self, key: str) -> None:
        self._store.async_delay_save(self.state.as_dict, SAVE_DELAY_S)

    @callback
    def _on_update(self, changed: frozenset[str]) -> None:
        if self.state.connected == self._connected:
            return  # a line: nothing about the connection changed
        self._connected = self.state.connected
        if self._connected:
            self._gone_issue.async_resolved()
        else:
            self._gone_issue.async_problem()
        if self._on_connection_change is not None:
            self._on_connection_change()

    @callback
    def _on_error(self, kind: ErrorKind) -> None:
        if kind is ErrorKind.ENTITY_LIMIT:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._limit_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="serial_entity_limit",
                translation_placeholders={
                    "board": self.name,
                    "limit": str(self.state.max_keys),
                },
            )

    @property
    def _limit_issue_id(self) -> str:
        return f"serial_limit_{self.subentry.subentry_id}"
