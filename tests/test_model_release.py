"""Loaded models go once nothing uses them: flow tries, replaced models, removed entries."""

from __future__ import annotations

from collections.abc import Iterator
import gc
from pathlib import Path
import shutil

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.camera_alerts.const import (
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    DOMAIN,
)
from custom_components.camera_alerts.inference import (
    DEFAULT_MODEL_PATH,
    cached_session_count,
    clear_session_cache,
    load_detector,
)

from .camera_helpers import camera_subentry, hub_entry, static_clip

pytestmark = pytest.mark.usefixtures("mock_host_stats")


@pytest.fixture(autouse=True)
def fresh_session_cache() -> Iterator[None]:
    """Count only the models this test loads."""
    clear_session_cache()
    yield
    clear_session_cache()


def loaded_models() -> int:
    """Models still held once garbage (cycles between runtime objects) is gone."""
    gc.collect()
    return cached_session_count()


def test_a_model_stays_while_a_detector_uses_it() -> None:
    """Shared by every detector of the same model, released with the last one."""
    first = load_detector(warmup=False)
    second = load_detector(labels=["person"], warmup=False)
    assert first.session is second.session
    assert loaded_models() == 1
    del first
    assert loaded_models() == 1
    del second
    assert loaded_models() == 0


async def test_a_model_tried_in_the_flow_is_released(hass: HomeAssistant) -> None:
    """The flow loads the model to check it; that copy does not stay behind."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_INFERENCE_THREADS: 1.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    # The new hub has no camera, so nothing uses a model.
    assert loaded_models() == 0


async def test_replaced_and_removed_models_are_released(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """A hub switched to another model keeps one; a removed hub keeps none."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    other = tmp_path / "other.onnx"
    shutil.copyfile(DEFAULT_MODEL_PATH, other)
    entry = hub_entry(
        camera_subentry("Yard", url=str(static_clip(tmp_path))),
        camera_subentry("Door", url=str(static_clip(tmp_path))),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_models() == 1  # both cameras share it

    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_MODEL_PATH: str(other)}
    )
    await hass.async_block_till_done()
    cameras = entry.runtime_data.cameras.values()
    assert {camera.processor.detector.model_path for camera in cameras} == {
        other.resolve()
    }
    del cameras
    assert loaded_models() == 1

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_models() == 0
