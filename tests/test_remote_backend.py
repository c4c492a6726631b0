"""The hub on a remote inference server: the flow, cameras and services, against real KServe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.camera_alerts.const import (
    CONF_BACKEND,
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    CONF_REMOTE_MODEL,
    CONF_REMOTE_URL,
    DOMAIN,
)

from .camera_helpers import EventRecorder, camera_subentry, person_clip, wait_until
from .camera_sources.media import free_port
from .conftest import submit_backend
from .kserve_server import MODEL, kserve_server

PHOTOS = sorted((Path(__file__).parent / "inference" / "data").glob("*.jpg"))

pytestmark = [
    pytest.mark.xdist_group("kserve"),
    pytest.mark.usefixtures("mock_host_stats", "socket_enabled"),
]


@pytest.fixture(scope="module")
def kserve_url() -> Iterator[str]:
    """One real KServe model server for this module."""
    with kserve_server() as url:
        yield url


def remote_entry(url: str, *subentries: object) -> MockConfigEntry:
    """A hub whose detector runs on the inference server at ``url``."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={
            CONF_BACKEND: "remote",
            CONF_MODEL_PATH: "",
            CONF_INFERENCE_THREADS: 2,
            CONF_REMOTE_URL: url,
            CONF_REMOTE_MODEL: MODEL,
        },
        subentries_data=subentries,  # type: ignore[arg-type]
        entry_id="01JCAMERAALERTSHUB000000000",
    )


async def _remote_form(hass: HomeAssistant) -> ConfigFlowResult:
    result = await submit_backend(hass, "remote")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "remote"
    return result


async def test_flow_sets_up_a_remote_server(
    hass: HomeAssistant, kserve_url: str
) -> None:
    """Bad addresses and unknown models are explained; a served model is accepted."""
    result = await _remote_form(hass)
    flow_id = result["flow_id"]

    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {CONF_REMOTE_URL: "http://user:secret@127.0.0.1:1", CONF_REMOTE_MODEL: MODEL},
    )
    assert result["errors"] == {CONF_REMOTE_URL: "invalid_remote_url"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_REMOTE_URL: kserve_url, CONF_REMOTE_MODEL: "no-such-model"}
    )
    assert result["errors"] == {CONF_REMOTE_URL: "remote_cannot_connect"}
    assert "no-such-model" in result["description_placeholders"]["error"]

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_REMOTE_URL: f" {kserve_url}/ ", CONF_REMOTE_MODEL: MODEL}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_BACKEND: "remote",
        CONF_MODEL_PATH: "",
        CONF_INFERENCE_THREADS: 2,
        CONF_REMOTE_URL: f"{kserve_url}/",
        CONF_REMOTE_MODEL: MODEL,
    }


async def test_flow_explains_an_unreachable_server(hass: HomeAssistant) -> None:
    """Nothing listens on the port: the form says so, in both languages."""
    result = await _remote_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_REMOTE_URL: "http://127.0.0.1:9", CONF_REMOTE_MODEL: MODEL},
    )
    assert result["errors"] == {CONF_REMOTE_URL: "remote_cannot_connect"}
    assert "127.0.0.1:9" in result["description_placeholders"]["error"]
    for language in ("en", "pt-BR"):
        strings = await async_get_translations(hass, language, "config", [DOMAIN])
        assert (
            "{error}"
            in strings[f"component.{DOMAIN}.config.error.remote_cannot_connect"]
        )
        assert strings[f"component.{DOMAIN}.config.step.remote.data.remote_url"]


async def test_reconfigure_switches_between_remote_and_local(
    hass: HomeAssistant, kserve_url: str
) -> None:
    """Reconfigure keeps the server's settings as defaults and can go back to local."""
    entry = remote_entry(kserve_url)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BACKEND: "remote", CONF_INFERENCE_THREADS: 2}
    )
    assert result["step_id"] == "remote"
    defaults = {
        str(key): key.default() for key in result["data_schema"].schema if key.default
    }
    assert defaults[CONF_REMOTE_URL] == kserve_url
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REMOTE_URL: kserve_url, CONF_REMOTE_MODEL: MODEL}
    )
    assert result["reason"] == "reconfigure_successful"

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BACKEND: "onnxruntime", CONF_INFERENCE_THREADS: 1}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_BACKEND] == "onnxruntime"
    assert entry.data[CONF_INFERENCE_THREADS] == 1


async def test_camera_detects_through_the_server(
    hass: HomeAssistant,
    kserve_url: str,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A person walking through a clip reaches HA as events, inferred by the server."""
    entry = remote_entry(
        kserve_url, camera_subentry("Porch", url=str(person_clip(tmp_path, fps=5.0)))
    )
    entry.add_to_hass(hass)
    recorder = EventRecorder(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    await wait_until(lambda: bool(recorder.of_type("end")))
    recorder.close()
    new = recorder.of_type("new")
    assert [e["label"] for e in new] == ["person"]
    assert new[0]["camera"] == "Porch"
    assert 0.5 <= new[0]["score"] <= 1.0
    assert issue_registry.async_get_issue(DOMAIN, "model_invalid") is None

    model = entry.runtime_data.model_info()
    assert model["backend"] == "remote"
    assert model["engine"] == "remote"
    assert model["adapter"] == "nanodet"

    # The detect service also goes to the server.
    hass.config.allowlist_external_dirs = {str(PHOTOS[0].parent)}
    response = await hass.services.async_call(
        DOMAIN,
        "detect",
        {"image_path": str(PHOTOS[0]), "min_score": 0.4},
        blocking=True,
        return_response=True,
    )
    assert response["detections"]
    assert all(0.4 <= d["score"] <= 1.0 for d in response["detections"])
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_cameras_wait_for_a_server_that_is_not_up_yet(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, tmp_path: Path
) -> None:
    """The camera waits for its server, a lasting outage raises a repair, and it starts late."""
    port = free_port()
    entry = remote_entry(
        f"http://127.0.0.1:{port}",
        camera_subentry("Porch", url=str(person_clip(tmp_path))),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    assert runtime.cameras == {}
    assert "remote_server_unavailable" in runtime.problems()
    assert hass.states.get("switch.porch_detection") is None
    # A short outage (the server restarting) raises nothing.
    assert issue_registry.async_get_issue(DOMAIN, "remote_server_unavailable") is None

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done(wait_background_tasks=True)
    issue = issue_registry.async_get_issue(DOMAIN, "remote_server_unavailable")
    assert issue is not None
    assert f"127.0.0.1:{port}" in issue.translation_placeholders["error"]

    server = kserve_server(port=port)
    await hass.async_add_executor_job(server.__enter__)
    try:
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=7))
        # The retry runs as a background task, like every timer's job.
        await hass.async_block_till_done(wait_background_tasks=True)
        assert set(runtime.cameras) == {"camera_porch"}
        assert "remote_server_unavailable" not in runtime.problems()
        assert (
            issue_registry.async_get_issue(DOMAIN, "remote_server_unavailable") is None
        )
        # The late camera's entities were added and it runs.
        await wait_until(lambda: hass.states.get("switch.porch_detection") is not None)
        assert hass.states.get("switch.porch_detection").state == "on"
        await wait_until(
            lambda: runtime.cameras["camera_porch"].coordinator.data.connected
        )
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await hass.async_add_executor_job(server.__exit__, None, None, None)


async def test_server_restart_while_cameras_run(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, tmp_path: Path
) -> None:
    """Detection failing mid-run marks the camera, raises a lasting repair, and recovers."""
    port = free_port()
    server = kserve_server(port=port)
    await hass.async_add_executor_job(server.__enter__)
    entry = remote_entry(
        f"http://127.0.0.1:{port}",
        camera_subentry("Porch", url=str(person_clip(tmp_path, fps=5.0))),
    )
    entry.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        runtime = entry.runtime_data
        camera = runtime.cameras["camera_porch"]
        presence = "binary_sensor.porch_person_detected"
        await wait_until(lambda: camera.status()["frames_detected"] > 0)
        assert hass.states.get(presence).state != "unavailable"
    finally:
        await hass.async_add_executor_job(server.__exit__, None, None, None)

    # The next frame with motion fails: the camera says so instead of "nobody there".
    await wait_until(lambda: camera.coordinator.data.detector_error is not None)
    assert "detector_failing:Porch" in runtime.problems()
    assert hass.states.get(presence).state == "unavailable"
    assert hass.states.get("binary_sensor.porch_connectivity").state == "on"
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done(wait_background_tasks=True)
    issue = issue_registry.async_get_issue(DOMAIN, "remote_server_unavailable")
    assert issue is not None
    assert f"127.0.0.1:{port}" in issue.translation_placeholders["error"]

    server = kserve_server(port=port)
    await hass.async_add_executor_job(server.__enter__)
    try:
        await wait_until(lambda: camera.coordinator.data.detector_error is None)
        assert "detector_failing:Porch" not in runtime.problems()
        assert hass.states.get(presence).state != "unavailable"
        assert (
            issue_registry.async_get_issue(DOMAIN, "remote_server_unavailable") is None
        )
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await hass.async_add_executor_job(server.__exit__, None, None, None)
