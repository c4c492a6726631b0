"""Tests for the hub config flow."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.camera_alerts.const import (
    CONF_BACKEND,
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    DOMAIN,
)

from .conftest import setup_integration, submit_backend


async def test_user_flow_bundled_model(hass: HomeAssistant, mock_host_stats) -> None:
    """An empty model path selects the bundled model."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_INFERENCE_THREADS: 1.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Camera Alerts"
    assert result["data"] == {
        CONF_BACKEND: "auto",
        CONF_MODEL_PATH: "",
        CONF_INFERENCE_THREADS: 1,
    }


async def test_user_flow_missing_model_then_fixed(
    hass: HomeAssistant, tmp_path: Path, mock_host_stats
) -> None:
    """A model path that does not exist is refused, and the user can correct it."""
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_MODEL_PATH: str(tmp_path / "nope.onnx"), CONF_INFERENCE_THREADS: 2},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_MODEL_PATH: "model_not_found"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEL_PATH: "  ", CONF_INFERENCE_THREADS: 2}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_MODEL_PATH] == ""


async def test_single_instance(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A second hub is refused."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "single_instance_allowed"


async def test_reconfigure(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    tmp_path: Path,
    mock_host_stats,
) -> None:
    """Reconfigure validates, stores the new data and reloads the entry."""
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    await setup_integration(hass, mock_config_entry)
    runtime_before = mock_config_entry.runtime_data

    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_MODEL_PATH: str(tmp_path / "missing.onnx"), CONF_INFERENCE_THREADS: 3},
    )
    assert result["errors"] == {CONF_MODEL_PATH: "model_not_found"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEL_PATH: "", CONF_INFERENCE_THREADS: 3}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert mock_config_entry.data[CONF_INFERENCE_THREADS] == 3
    assert mock_config_entry.runtime_data is not runtime_before


@pytest.mark.parametrize(
    "path",
    [
        "models/yolo.onnx",
        "/etc/passwd",
        "CONFIG/../../etc/passwd",
        "/proc/self/environ",
    ],
)
async def test_model_paths_outside_allowed_folders(
    hass: HomeAssistant, path: str, mock_host_stats
) -> None:
    """Relative paths, traversal and system files are refused before anything is read."""
    path = path.replace("CONFIG", hass.config.config_dir)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEL_PATH: path, CONF_INFERENCE_THREADS: 1}
    )
    assert result["errors"] == {CONF_MODEL_PATH: "path_not_allowed"}


@pytest.mark.parametrize(
    ("backend", "requirement"),
    [("auto", "onnxruntime>=1.22.1,<2"), ("openvino", "openvino>=2025.1,<2027")],
)
async def test_local_engine_that_cannot_be_installed(
    hass: HomeAssistant, backend: str, requirement: str, mock_host_stats
) -> None:
    """pip finds no package for this system (musl): the form says so and names the remote backend."""
    with (
        patch("homeassistant.util.package.is_installed", return_value=False),
        patch(
            "homeassistant.util.package.install_package", return_value=False
        ) as install,
    ):
        result = await submit_backend(hass, backend)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "local_backend_unavailable"}
    assert (
        f"{requirement} cannot be installed"
        in (result["description_placeholders"]["error"])
    )
    # Installed the way HA installs manifest requirements: under HA's constraints.
    assert install.call_args.args == (requirement,)
    assert install.call_args.kwargs["constraints"].endswith("package_constraints.txt")
    for language in ("en", "pt-BR"):
        strings = await async_get_translations(hass, language, "config", [DOMAIN])
        error = strings[f"component.{DOMAIN}.config.error.local_backend_unavailable"]
        assert "{error}" in error
        assert "musl" in error
        selector = await async_get_translations(hass, language, "selector", [DOMAIN])
        remote = selector[f"component.{DOMAIN}.selector.backend.options.remote"]
        assert remote.split(" (")[0].casefold() in error.casefold()


async def test_local_engine_installed_on_demand(
    hass: HomeAssistant, mock_host_stats
) -> None:
    """A missing engine is installed when the user picks it, then the model is checked."""
    with (
        patch("homeassistant.util.package.is_installed", return_value=False),
        patch(
            "homeassistant.util.package.install_package", return_value=True
        ) as install,
    ):
        result = await submit_backend(hass, "onnxruntime")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BACKEND] == "onnxruntime"
    assert [call.args for call in install.call_args_list] == [
        ("onnxruntime>=1.22.1,<2",)
    ]
