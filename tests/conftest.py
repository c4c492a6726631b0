"""Fixtures shared by every Camera Alerts test."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.camera_alerts.const import (
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    DOMAIN,
)
from custom_components.camera_alerts.host import HostStats

pytest_plugins = ["pytest_homeassistant_custom_component"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load this custom integration in every test."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialise Home Assistant objects the way core's snapshots do.

    One set of snapshots serves both HA versions the suite runs on: the entity
    registry fields only HA 2026.2+ has (`object_id_base` and `suggested_object_id`,
    what the entity id was made from) are left out.
    """
    return snapshot.with_defaults(
        extension_class=HomeAssistantSnapshotExtension,
        exclude=props("object_id_base", "suggested_object_id"),
    )


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create entities that are disabled by default as enabled."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
    ):
        yield


@pytest.fixture
def media_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Snapshots go to a temporary media folder."""
    directory = tmp_path / "media"
    hass.config.media_dirs = {"local": str(directory)}
    return directory


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """Return the hub entry with the bundled model."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={CONF_MODEL_PATH: "", CONF_INFERENCE_THREADS: 2},
        options={},
        entry_id="01JCAMERAALERTSHUB000000000",
    )


FIXED_HOST_STATS = HostStats(
    cpu_percent=12.5,
    memory_percent=43.2,
    disk_percent=61.0,
    load_1m=0.42,
    cpu_temperature=47.0,
)


@pytest.fixture
def mock_host_stats() -> Generator[MagicMock]:
    """Make host readings deterministic for snapshots."""
    with patch(
        "custom_components.camera_alerts.coordinator.read_host_stats",
        return_value=FIXED_HOST_STATS,
    ) as mock:
        yield mock


async def setup_integration(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add the entry to Home Assistant and set it up."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def submit_backend(hass: HomeAssistant, backend: str) -> ConfigFlowResult:
    """Start the hub's set-up flow and pick ``backend`` (2 threads, bundled model)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"backend": backend, "inference_threads": 2}
    )
