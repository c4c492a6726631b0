"""Run Home Assistant 2026.2 on this machine's Python 3.13.0.

HA 2026.2's start-up check (`homeassistant.__main__.validate_python`) refuses any
Python older than its REQUIRED_PYTHON_VER, 3.13.2, although its code runs on 3.13.0,
the newest Python this machine has (the test suite runs HA 2026.2.3 on it). This
replaces that one check and nothing else, then runs HA's own `main()` with the same
arguments as `hass`:

    <venv>/bin/python scripts/run_hass.py -c <config dir>

On a supported Python it changes nothing. Only scripts/check_user_install.py uses it.
"""

from __future__ import annotations

import sys

import homeassistant.__main__ as hass_main
from homeassistant.const import REQUIRED_PYTHON_VER


def _accept_this_python() -> None:
    """Let a 3.13 older than REQUIRED_PYTHON_VER through; refuse anything else."""
    if sys.version_info[:2] < REQUIRED_PYTHON_VER[:2]:
        print(f"Home Assistant needs Python {REQUIRED_PYTHON_VER[0]}.{REQUIRED_PYTHON_VER[1]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    hass_main.validate_python = _accept_this_python
    sys.exit(hass_main.main())
