"""The runtime object: everything one config entry starts, owns and stops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .const import LOGGER
from .coordinator import HostCoordinator, RuntimeStatus, StatusCoordinator

type CameraAlertsConfigEntry = ConfigEntry[CameraAlertsRuntime]


class CameraAlertsRuntime:
    """Own the entry's monitors, processors and sinks, and report their status."""

    def __init__(self, hass: HomeAssistant, entry: CameraAlertsConfigEntry) -> None:
        """Create the parts; nothing runs until `async_setup`."""
        self.hass = hass
        self.entry = entry
        self.running = False
        self.startup_completed = False
        self.alerts_processed = 0
        self.host = HostCoordinator(hass, entry)
        self.status = StatusCoordinator(hass, entry, self._snapshot())
        self._unsubscribers: list[Callable[[], None]] = []

    async def async_setup(self) -> None:
        """Start monitoring and processing."""
        await self.host.async_config_entry_first_refresh()
        self._unsubscribers.append(self.host.async_add_listener(self._publish))
        self.running = True
        self.startup_completed = True
        self._publish()
        LOGGER.debug("Camera Alerts runtime started")

    async def async_shutdown(self) -> None:
        """Stop everything this entry started."""
        self.running = False
        while self._unsubscribers:
            self._unsubscribers.pop()()
        await self.host.async_shutdown()
        await self.status.async_shutdown()

    async def async_start(self, camera: str | None = None) -> None:
        """Turn processing on."""
        self.running = True
        self._publish()

    async def async_stop(self, camera: str | None = None) -> None:
        """Turn processing off; host monitoring keeps running."""
        self.running = False
        self._publish()

    async def async_restart(self, camera: str | None = None) -> None:
        """Stop, then start processing."""
        await self.async_stop(camera)
        await self.async_start(camera)

    @callback
    def record_alert(self) -> None:
        """Count one alert processed."""
        self.alerts_processed += 1
        self._publish()

    def problems(self) -> list[str]:
        """Return why the integration is unhealthy, one reason per failing part."""
        problems: list[str] = []
        if not self.host.last_update_success:
            problems.append("host_monitor_failed")
        return problems

    def status_document(self) -> dict[str, Any]:
        """Return the status document of the `get_status` service."""
        return {
            "running": self.running,
            "startup_completed": self.startup_completed,
            "monitors": {
                "host": "ok" if self.host.last_update_success else "failed",
            },
            "cameras_processing": [],
            "cameras": {},
            "alerts_processed": self.alerts_processed,
            "handlers": {},
            "problems": self.problems(),
        }

    def _snapshot(self) -> RuntimeStatus:
        return RuntimeStatus(
            running=self.running,
            startup_completed=self.startup_completed,
            alerts_processed=self.alerts_processed,
            problems=tuple(self.problems()),
        )

    @callback
    def _publish(self) -> None:
        self.status.async_set_updated_data(self._snapshot())
