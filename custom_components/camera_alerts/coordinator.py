"""Coordinators: host health (polled), the hub's status and each camera's state (pushed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import DOMAIN, HOST_UPDATE_INTERVAL, LOGGER
from .host import HostStats, prime_cpu_percent, read_host_stats

if TYPE_CHECKING:
    from .runtime import CameraAlertsConfigEntry


class HostCoordinator(DataUpdateCoordinator[HostStats]):
    """Poll the host's CPU, memory, disk, temperature and load."""

    config_entry: CameraAlertsConfigEntry

    def __init__(self, hass: HomeAssistant, entry: CameraAlertsConfigEntry) -> None:
        """Initialise the host coordinator."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN}_host",
            update_interval=HOST_UPDATE_INTERVAL,
        )

    async def _async_setup(self) -> None:
        """Open psutil's CPU window so the first update has a real figure."""
        await self.hass.async_add_executor_job(prime_cpu_percent)

    async def _async_update_data(self) -> HostStats:
        """Read every figure in one executor job."""
        try:
            return await self.hass.async_add_executor_job(
                read_host_stats, self.hass.config.config_dir
            )
        except OSError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="host_read_failed",
                translation_placeholders={"error": str(err)},
            ) from err


class PushCoordinator[DataT](DataUpdateCoordinator[DataT]):
    """A coordinator its runtime pushes data to (`async_set_updated_data`).

    A refresh, as `homeassistant.update_entity` asks for, has nothing to fetch and
    returns what the coordinator holds. Without this, HA's default raises
    NotImplementedError, and since HA 2026.1 that marks the coordinator failed and its
    entities unavailable.
    """

    async def _async_update_data(self) -> DataT:
        """Return the latest pushed data."""
        return self.data


@dataclass(frozen=True, slots=True)
class RuntimeStatus:
    """What the hub's entities show: a snapshot taken whenever something changes."""

    running: bool
    startup_completed: bool
    alerts_processed: int
    problems: tuple[str, ...] = ()
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)


class StatusCoordinator(PushCoordinator[RuntimeStatus]):
    """Carry the runtime's status to the hub entities; the runtime pushes updates."""

    config_entry: CameraAlertsConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: CameraAlertsConfigEntry,
        initial: RuntimeStatus,
    ) -> None:
        """Initialise with the runtime's first snapshot."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN}_status",
            update_interval=None,
        )
        self.data = initial


@dataclass(frozen=True, slots=True)
class CameraState:
    """What one camera's entities show; pushed by its processor."""

    connected: bool = False
    enabled: bool = True
    motion: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    inference_ms: float | None = None
    processed_fps: float = 0.0
    skipped_frames: int = 0
    last_error: str | None = None
    detector_error: str | None = None
    processing_error: str | None = None


class CameraCoordinator(PushCoordinator[CameraState]):
    """Carry one camera's state to its entities; the camera runtime pushes updates."""

    config_entry: CameraAlertsConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: CameraAlertsConfigEntry, camera: str
    ) -> None:
        """Initialise with a camera that has not connected yet."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN}_camera_{camera}",
            update_interval=None,
        )
        self.data = CameraState()
