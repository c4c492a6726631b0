"""A model that cannot be used: translated flow errors, a repair issue, cameras degrade."""

from __future__ import annotations

from pathlib import Path

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts.const import (
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    DOMAIN,
)

from .camera_helpers import camera_subentry, static_clip
from .inference.onnx_models import constant_model

pytestmark = pytest.mark.usefixtures("mock_host_stats")

BUNDLED = Path(__file__).parents[1] / "custom_components/camera_alerts/inference/models/nanodet-g-416.onnx"


@pytest.fixture
def corrupt_model(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(BUNDLED.read_bytes()[:4000])
    return path


@pytest.fixture
def classifier_model(tmp_path: Path) -> Path:
    return constant_model(tmp_path / "classifier.onnx", {"logits": np.zeros((1, 7), np.float32)})


async def test_flow_refuses_unusable_models(
    hass: HomeAssistant, corrupt_model: Path, classifier_model: Path, tmp_path: Path
) -> None:
    """Corrupt, unsupported and non-model files get their own translated errors."""
    hass.config.allowlist_external_dirs = {str(tmp_path), str(BUNDLED.parent)}
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    for path, error in (
        (corrupt_model, "invalid_model"),
        (text, "invalid_model"),
        (classifier_model, "unsupported_model"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_MODEL_PATH: str(path), CONF_INFERENCE_THREADS: 1}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_MODEL_PATH: error}, path
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEL_PATH: str(BUNDLED), CONF_INFERENCE_THREADS: 1}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_corrupt_model_after_reload(
    hass: HomeAssistant,
    corrupt_model: Path,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A model swapped for a corrupt file: the entry loads, cameras stay down, a repair says why."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={CONF_MODEL_PATH: str(corrupt_model), CONF_INFERENCE_THREADS: 1},
        subentries_data=(camera_subentry("Yard", url=str(static_clip(tmp_path))),),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.cameras == {}
    assert issue_registry.async_get_issue(DOMAIN, "model_invalid") is not None
    problem = hass.states.get("binary_sensor.camera_alerts_problem")
    assert problem.attributes["problems"] == ["model_invalid"]
    assert hass.states.get("sensor.host_cpu_usage").state == "12.5"

    response = await hass.services.async_call(
        DOMAIN, "get_status", {}, blocking=True, return_response=True
    )
    assert response["problems"] == ["model_invalid"]
    image = tmp_path / "x.jpg"
    image.write_bytes(b"")
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            DOMAIN, "detect", {"image_path": str(image)}, blocking=True, return_response=True
        )

    # Fixing the model (reconfigure) clears the repair.
    hass.config_entries.async_update_entry(
        entry, data={CONF_MODEL_PATH: "", CONF_INFERENCE_THREADS: 1}
    )
    await hass.async_block_till_done()
    assert [c.name for c in entry.runtime_data.cameras.values()] == ["Yard"]
    assert issue_registry.async_get_issue(DOMAIN, "model_invalid") is None
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
