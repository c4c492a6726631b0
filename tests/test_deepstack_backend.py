"""The hub on a CodeProject.AI / DeepStack server: the flow, a camera, diagnostics."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import voluptuous as vol

from custom_components.camera_alerts.const import (
    CONF_API_KEY,
    CONF_BACKEND,
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    CONF_REMOTE_URL,
    DOMAIN,
)

from .camera_helpers import EventRecorder, camera_subentry, person_clip, wait_until
from .conftest import submit_backend
from .deepstack_server import DeepStackServer

API_KEY = "d33pst4ck-k3y"

pytestmark = pytest.mark.usefixtures("mock_host_stats", "socket_enabled")


@pytest.fixture
def server() -> Iterator[DeepStackServer]:
    """A DeepStack server that wants an API key, answering with the bundled model."""
    with DeepStackServer(api_key=API_KEY, flavor="deepstack") as running:
        yield running


async def _deepstack_form(hass: HomeAssistant) -> ConfigFlowResult:
    result = await submit_backend(hass, "deepstack")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "deepstack"
    return result


async def test_flow_checks_the_server_and_its_key(
    hass: HomeAssistant, server: DeepStackServer
) -> None:
    """A wrong key is refused without being echoed; the right one creates the hub."""
    result = await _deepstack_form(hass)
    flow_id = result["flow_id"]

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_REMOTE_URL: "ftp://127.0.0.1/", CONF_API_KEY: API_KEY}
    )
    assert result["errors"] == {CONF_REMOTE_URL: "invalid_remote_url"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_REMOTE_URL: server.url, CONF_API_KEY: "wrong-key-123"}
    )
    assert result["errors"] == {CONF_REMOTE_URL: "remote_cannot_connect"}
    error = result["description_placeholders"]["error"]
    assert "key" in error.casefold()
    assert "wrong-key-123" not in error

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_REMOTE_URL: server.url, CONF_API_KEY: API_KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_BACKEND: "deepstack",
        CONF_MODEL_PATH: "",
        CONF_INFERENCE_THREADS: 2,
        CONF_REMOTE_URL: server.url,
        CONF_API_KEY: API_KEY,
    }
    assert server.forms[-1]["api_key"] == API_KEY
    for language in ("en", "pt-BR"):
        strings = await async_get_translations(hass, language, "config", [DOMAIN])
        assert strings[f"component.{DOMAIN}.config.step.deepstack.data.api_key"]


def deepstack_entry(url: str, *subentries: object) -> MockConfigEntry:
    """A hub whose detector is the DeepStack server at ``url``."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={
            CONF_BACKEND: "deepstack",
            CONF_MODEL_PATH: "",
            CONF_INFERENCE_THREADS: 2,
            CONF_REMOTE_URL: url,
            CONF_API_KEY: API_KEY,
        },
        subentries_data=subentries,  # type: ignore[arg-type]
        entry_id="01JCAMERAALERTSHUB000000000",
    )


async def test_reconfigure_keeps_the_key_it_never_shows(
    hass: HomeAssistant, server: DeepStackServer
) -> None:
    """The key field is empty on reconfigure; leaving it empty keeps the stored key."""
    entry = deepstack_entry(server.url)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BACKEND: "deepstack", CONF_INFERENCE_THREADS: 2}
    )
    assert result["step_id"] == "deepstack"
    defaults = {
        str(key): key.default()
        for key in result["data_schema"].schema
        if key.default is not vol.UNDEFINED
    }
    assert defaults == {CONF_REMOTE_URL: server.url}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REMOTE_URL: server.url}
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_API_KEY] == API_KEY
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_camera_detects_through_deepstack(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    server: DeepStackServer,
    tmp_path: Path,
) -> None:
    """A person in the clip becomes HA events; diagnostics show the backend, not the key."""
    entry = deepstack_entry(
        server.url, camera_subentry("Porch", url=str(person_clip(tmp_path, fps=5.0)))
    )
    entry.add_to_hass(hass)
    recorder = EventRecorder(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    await wait_until(lambda: bool(recorder.of_type("new")))
    recorder.close()
    new = recorder.of_type("new")
    assert [e["label"] for e in new] == ["person"]
    assert new[0]["camera"] == "Porch"
    assert server.detections > 0

    model = entry.runtime_data.model_info()
    assert (model["backend"], model["engine"]) == ("deepstack", "deepstack")

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert API_KEY not in json.dumps(diagnostics)
    assert diagnostics["entry"]["data"][CONF_API_KEY] == "**REDACTED**"
    assert await hass.config_entries.async_unload(entry.entry_id)
