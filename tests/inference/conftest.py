"""Fixtures for the detector tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from custom_components.camera_alerts.inference import clear_session_cache


@pytest.fixture(autouse=True)
def fresh_session_cache() -> Iterator[None]:
    """Start and end every test with an empty session cache."""
    clear_session_cache()
    yield
    clear_session_cache()
