"""Host health readings taken with psutil (blocking: run in the executor)."""

from __future__ import annotations

from dataclasses import dataclass
import os

import psutil

# Sensor chips that report the CPU package temperature, most specific first.
_CPU_TEMPERATURE_CHIPS = (
    "coretemp",
    "k10temp",
    "zenpower",
    "cpu_thermal",
    "cpu-thermal",
    "soc_thermal",
    "acpitz",
)


@dataclass(frozen=True, slots=True)
class HostStats:
    """One reading of the host's health."""

    cpu_percent: float
    memory_percent: float
    disk_percent: float
    load_1m: float
    cpu_temperature: float | None


def prime_cpu_percent() -> None:
    """Start psutil's CPU-time window so the first real reading is not 0.0."""
    psutil.cpu_percent(interval=None)


def cpu_temperature() -> float | None:
    """Return the CPU temperature in °C, or None where the host exposes no sensor."""
    if not hasattr(psutil, "sensors_temperatures"):
        return None
    try:
        chips = psutil.sensors_temperatures()
    except (OSError, AttributeError):
        return None
    for name in _CPU_TEMPERATURE_CHIPS:
        for reading in chips.get(name, ()):
            if reading.current is not None and reading.current > 0:
                return round(float(reading.current), 1)
    return None


def read_host_stats(disk_path: str) -> HostStats:
    """Read every host figure in one go."""
    return HostStats(
        cpu_percent=round(psutil.cpu_percent(interval=None), 1),
        memory_percent=round(psutil.virtual_memory().percent, 1),
        disk_percent=round(psutil.disk_usage(disk_path).percent, 1),
        load_1m=round(os.getloadavg()[0], 2),
        cpu_temperature=cpu_temperature(),
    )
