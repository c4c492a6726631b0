"""What every benchmark prints about the machine it ran on."""

from __future__ import annotations

from pathlib import Path
import platform


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (elsewhere what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
