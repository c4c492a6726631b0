"""The runtime object: everything one config entry starts, owns and stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
import threading
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval

from .camera_runtime import CameraRuntime, camera_added_signal, parse_label_scores
from .const import (
    CONF_LABEL_SCORES,
    CONF_LABELS,
    CONF_MIN_SCORE,
    CONF_MODEL_PATH,
    DEFAULT_LABELS,
    DEFAULT_MIN_SCORE,
    DOMAIN,
    LOGGER,
    SUBENTRY_CAMERA,
    SUBENTRY_SERIAL,
)
from .coordinator import HostCoordinator, RuntimeStatus, StatusCoordinator
from .engines import async_load_entry_detector, backend_of, uses_server
from .handlers.dispatcher import Dispatcher
from .inference import (
    REMOTE_CONCURRENCY,
    BackendUnavailableError,
    DetectorError,
    FrameDetector,
    RemoteServerError,
)
from .lasting_issue import LastingProblemIssue
from .models import DetectionEvent
from .pipeline.source import PathNotAllowed, read_allowed_image
from .serial.link import SerialNotConnectedError
from .serial.protocol import CommandError
from .serial_runtime import SerialBoardRuntime
from .sinks import SinkHealth, build_sinks, sink_failing

type CameraAlertsConfigEntry = ConfigEntry[CameraAlertsRuntime]

MODEL_ISSUE_ID = "model_invalid"
LOCAL_BACKEND_ISSUE_ID = "local_backend_unavailable"
REMOTE_ISSUE_ID = "remote_server_unavailable"
REMOTE_ISSUE_DELAY = timedelta(minutes=5)
REMOTE_RETRY_INTERVAL = timedelta(seconds=30)
SINK_HEALTH_INTERVAL = timedelta(minutes=1)


def detector_issue_id(err: DetectorError) -> str:
    """Return the repair issue (and service error) that explains why a detector failed."""
    if isinstance(err, RemoteServerError):
        return REMOTE_ISSUE_ID
    # A missing backend is this system's limit, not a bad model file.
    if isinstance(err, BackendUnavailableError):
        return LOCAL_BACKEND_ISSUE_ID
    return MODEL_ISSUE_ID


def detector_options(subentry_data: dict[str, Any]) -> dict[str, Any]:
    """Return `load_detector` keyword arguments for one camera's labels and scores."""
    labels = list(subentry_data.get(CONF_LABELS) or DEFAULT_LABELS)
    min_score = float(subentry_data.get(CONF_MIN_SCORE, DEFAULT_MIN_SCORE))
    scores = parse_label_scores(subentry_data.get(CONF_LABEL_SCORES, ""))
    min_scores = {label: scores.get(label, min_score) for label in labels}
    return {
        "labels": labels,
        "min_scores": min_scores,
        "score_threshold": min(min_scores.values()),
    }


def config_fingerprint(entry: ConfigEntry) -> tuple[Any, ...]:
    """Everything a runtime is built from: the entry's data, options and subentries."""
    return (
        dict(entry.data),
        dict(entry.options),
        {
            subentry_id: (subentry.subentry_type, dict(subentry.data))
            for subentry_id, subentry in entry.subentries.items()
        },
    )


class CameraAlertsRuntime:
    """Own the entry's monitors, processors and sinks, and report their status."""

    def __init__(self, hass: HomeAssistant, entry: CameraAlertsConfigEntry) -> None:
        """Create the parts; nothing runs until `async_setup`."""
        self.hass = hass
        self.entry = entry
        # What the entry said when this runtime was built from it (see
        # `config_fingerprint`): a change made before the update listener exists
        # is found by comparing.
        self.built_from = config_fingerprint(entry)
        self.running = False
        self.startup_completed = False
        self.alerts_processed = 0
        self.model_error: str | None = None
        self.detector_problem: str | None = None
        # The hub device, parent of the host and camera devices; set at entry setup.
        self.hub_device_id = ""
        # Cameras whose inference server was unreachable; retried until it answers.
        self._waiting: dict[str, ConfigSubentry] = {}
        self._retrying = False
        self._stopped = False
        # Adding, starting and stopping cameras never interleave: the retry of
        # waiting cameras may run while the entry unloads.
        self._lifecycle = asyncio.Lock()
        self._remote_issue = LastingProblemIssue(
            hass,
            REMOTE_ISSUE_ID,
            REMOTE_ISSUE_ID,
            REMOTE_ISSUE_DELAY,
            lambda: {"error": self._remote_error() or ""},
        )
        self.cameras: dict[str, CameraRuntime] = {}
        # Every camera of the entry as set up, running or not (for cleanup on removal).
        self.camera_subentries: dict[str, ConfigSubentry] = {
            subentry.subentry_id: subentry
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_CAMERA
        }
        self.serial_boards: dict[str, SerialBoardRuntime] = {
            # Problem follows a board's connection at once.
            subentry.subentry_id: SerialBoardRuntime(hass, subentry, self._publish)
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_SERIAL
        }
        self.dispatcher = Dispatcher(
            build_sinks(hass, entry.entry_id, entry.options, entry.subentries)
        )
        self.sink_health = SinkHealth(hass, self.dispatcher)
        self.host = HostCoordinator(hass, entry)
        self.status = StatusCoordinator(hass, entry, self._snapshot())
        # One local inference at a time (parallel ones would only fight over the
        # cores); a few requests in flight to an inference server.
        self._detect_lock = threading.Semaphore(
            REMOTE_CONCURRENCY if uses_server(entry.data) else 1
        )
        self._unsubscribers: list[Callable[[], None]] = []

    async def async_setup(self) -> None:
        """Start monitoring and processing."""
        await self.host.async_config_entry_first_refresh()
        self._unsubscribers.append(self.host.async_add_listener(self._publish))
        await self.dispatcher.async_start()
        self._unsubscribers.append(
            self.dispatcher.async_add_listener(self._sinks_changed)
        )
        self._unsubscribers.append(
            async_track_time_interval(
                self.hass, self._check_sinks, SINK_HEALTH_INTERVAL
            )
        )
        for board in self.serial_boards.values():
            await board.async_start()
        async with self._lifecycle:
            for subentry in self.entry.subentries.values():
                if subentry.subentry_type != SUBENTRY_CAMERA:
                    continue
                detector = await self._async_camera_detector(subentry)
                if detector is not None:
                    self._add_camera(subentry, detector)
            self._unsubscribers.append(
                async_track_time_interval(
                    self.hass, self._async_retry_waiting, REMOTE_RETRY_INTERVAL
                )
            )
            self.running = True
            for camera in list(self.cameras.values()):
                await camera.async_start()
        self.startup_completed = True
        self._publish()
        LOGGER.debug("Camera Alerts runtime started with %d cameras", len(self.cameras))

    async def async_shutdown(self) -> None:
        """Stop everything this entry started."""
        self.running = False
        self._stopped = True
        self._remote_issue.async_resolved()
        # Waits for a camera the retry is starting, so it is stopped too.
        async with self._lifecycle:
            for camera in list(self.cameras.values()):
                await camera.async_shutdown()
        for board in self.serial_boards.values():
            await board.async_stop()
        while self._unsubscribers:
            self._unsubscribers.pop()()
        # Cameras are stopped first, so their last `end` events still reach the sinks.
        await self.dispatcher.async_stop()
        self.sink_health.async_clear()
        await self.host.async_shutdown()
        await self.status.async_shutdown()

    async def _async_camera_detector(
        self, subentry: ConfigSubentry
    ) -> FrameDetector | None:
        """Load the camera's detector; None (and why, as a problem) when it cannot run."""
        try:
            detector = await self._async_load_detector(dict(subentry.data))
        except RemoteServerError as err:
            # The server may just be restarting or not up yet: keep trying.
            self.model_error = str(err)
            self.detector_problem = REMOTE_ISSUE_ID
            if subentry.subentry_id not in self._waiting:
                LOGGER.warning(
                    "Camera %s waits for the inference server: %s",
                    subentry.data["name"],
                    err,
                )
            self._waiting[subentry.subentry_id] = subentry
            self._update_remote_issue()
            return None
        except DetectorError as err:
            self.model_error = str(err)
            issue_id = detector_issue_id(err)
            self.detector_problem = issue_id
            LOGGER.error("Camera %s cannot start: %s", subentry.data["name"], err)
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=issue_id,
                translation_placeholders={"error": str(err)},
            )
            return None
        return detector

    @callback
    def _add_camera(
        self, subentry: ConfigSubentry, detector: FrameDetector
    ) -> CameraRuntime:
        """Create the runtime of a camera whose detector loaded."""
        if self._waiting.pop(subentry.subentry_id, None) is not None:
            LOGGER.info(
                "Camera %s: the inference server answers", subentry.data["name"]
            )
        if not self._waiting:
            self.model_error = None
            self.detector_problem = None
            self._update_remote_issue()
        ir.async_delete_issue(self.hass, DOMAIN, MODEL_ISSUE_ID)
        ir.async_delete_issue(self.hass, DOMAIN, LOCAL_BACKEND_ISSUE_ID)
        camera = CameraRuntime(
            self.hass, self.entry, subentry, detector, self._detect_lock, self._on_event
        )
        self.cameras[subentry.subentry_id] = camera
        self._unsubscribers.append(
            camera.coordinator.async_add_listener(self._camera_changed)
        )
        return camera

    def _shutting_down(self) -> bool:
        return self._stopped

    async def _async_retry_waiting(self, _now: datetime) -> None:
        """Try the inference server again for cameras that wait for it."""
        if self._retrying or not self._waiting or self._stopped:
            return
        self._retrying = True
        try:
            for subentry in list(self._waiting.values()):
                detector = await self._async_camera_detector(subentry)
                if detector is None:
                    continue
                # Unload may have begun while the detector loaded.
                if self._shutting_down():
                    return
                async with self._lifecycle:
                    if self._shutting_down():
                        return
                    camera = self._add_camera(subentry, detector)
                    if self.running:
                        await camera.async_start()
                # The platforms add the late camera's entities.
                async_dispatcher_send(
                    self.hass, camera_added_signal(self.entry.entry_id), camera
                )
        finally:
            self._retrying = False
            if not self._stopped:
                self._publish()

    async def _async_load_detector(
        self, subentry_data: dict[str, Any]
    ) -> FrameDetector:
        return await async_load_entry_detector(
            self.hass, self.entry.data, **detector_options(subentry_data)
        )

    def _select(self, camera: str | None) -> list[CameraRuntime]:
        if camera is None:
            return list(self.cameras.values())
        for runtime in self.cameras.values():
            if camera in (runtime.name, runtime.slug, runtime.camera_entity_id):
                return [runtime]
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="camera_not_found",
            translation_placeholders={"camera": camera},
        )

    async def async_start(self, camera: str | None = None) -> None:
        """Turn processing on, for every camera or one."""
        await self._async_set_processing(camera, running=True)

    async def async_stop(self, camera: str | None = None) -> None:
        """Turn processing off; host monitoring keeps running."""
        await self._async_set_processing(camera, running=False)

    async def _async_set_processing(self, camera: str | None, *, running: bool) -> None:
        selected = self._select(camera)
        async with self._lifecycle:
            if self._stopped:
                return
            if camera is None:
                self.running = running
            for runtime in selected:
                await (runtime.async_start() if running else runtime.async_stop())
        self._publish()

    async def async_restart(self, camera: str | None = None) -> None:
        """Stop, then start processing."""
        await self.async_stop(camera)
        await self.async_start(camera)

    async def async_detect(
        self, camera: str | None, image_path: str | None, min_score: float
    ) -> dict[str, Any]:
        """Run the detector once on a camera's newest frame or on an image file."""
        if camera is not None:
            runtime = self._select(camera)[0]
            frame = runtime.latest_frame()
            if frame is None:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="no_frame",
                    translation_placeholders={"camera": runtime.name},
                )
            source = runtime.name
        else:
            assert image_path is not None
            try:
                # Checking the path touches the disk: off the loop, with the read.
                frame = await self.hass.async_add_executor_job(
                    read_allowed_image, image_path, self.hass.config.is_allowed_path
                )
            except PathNotAllowed as err:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="path_not_allowed",
                    translation_placeholders={"path": image_path},
                ) from err
            if frame is None:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="unreadable_image",
                    translation_placeholders={"path": image_path},
                )
            source = image_path
        try:
            detector = await async_load_entry_detector(
                self.hass, self.entry.data, score_threshold=min_score, warmup=False
            )
            detections = await self.hass.async_add_executor_job(detector.detect, frame)
        except DetectorError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=detector_issue_id(err),
                translation_placeholders={"error": str(err)},
            ) from err
        height, width = frame.shape[:2]
        return {
            "source": source,
            "frame_width": width,
            "frame_height": height,
            "detections": [
                {
                    "label": d.class_name,
                    "class_id": d.class_id,
                    "score": round(d.confidence, 4),
                    "box": {
                        "x": round(d.bbox["x"] / width, 5),
                        "y": round(d.bbox["y"] / height, 5),
                        "width": round(d.bbox["width"] / width, 5),
                        "height": round(d.bbox["height"] / height, 5),
                    },
                }
                for d in detections
            ],
        }

    async def async_send_serial(self, board: str, line: str) -> None:
        """Send a command line to a board, by its name or port."""
        for runtime in self.serial_boards.values():
            if board in (runtime.name, runtime.port):
                break
        else:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="board_not_found",
                translation_placeholders={"board": board},
            )
        try:
            await runtime.async_send(line)
        except CommandError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_command",
                translation_placeholders={"error": str(err)},
            ) from err
        except SerialNotConnectedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="board_not_connected",
                translation_placeholders={"board": runtime.name},
            ) from err

    @callback
    def _on_event(self, event: DetectionEvent) -> None:
        """Count one alert and pass it on to the sinks."""
        self.alerts_processed += 1
        self.dispatcher.dispatch(event)
        self._publish()

    def _remote_error(self) -> str | None:
        """Why the inference server fails: at start (cameras waiting) or while running."""
        if self._waiting:
            return self.model_error
        return next(
            (
                camera.coordinator.data.detector_error
                for camera in self.cameras.values()
                if camera.coordinator.data.detector_error
            ),
            None,
        )

    @callback
    def _update_remote_issue(self) -> None:
        # A server that goes away while cameras run is the same lasting problem
        # as one that is not up at start; a local engine failing is not.
        if uses_server(self.entry.data) and self._remote_error():
            self._remote_issue.async_problem()
        else:
            self._remote_issue.async_resolved()

    @callback
    def _camera_changed(self) -> None:
        self._update_remote_issue()
        self._publish()

    @callback
    def _check_sinks(self, _now: datetime) -> None:
        # A sink can fail quietly (no state change): look again now and then.
        self.sink_health.async_check()

    @callback
    def _sinks_changed(self) -> None:
        self.sink_health.async_check()
        self._publish()

    def model_info(self) -> dict[str, Any]:
        """Describe the detector the cameras use (or why it failed to load)."""
        for camera in self.cameras.values():
            detector = camera.processor.detector
            width, height = detector.input_size
            return {
                "backend": backend_of(self.entry.data),
                "engine": detector.engine,
                "path": str(detector.model_path),
                "adapter": detector.adapter_name,
                "input": f"{width}x{height}",
                "classes": len(detector.class_names),
            }
        return {
            "backend": backend_of(self.entry.data),
            "path": self.entry.data.get(CONF_MODEL_PATH) or "bundled",
            "error": self.model_error,
        }

    def problems(self) -> list[str]:
        """Return why the integration is unhealthy, one reason per failing part."""
        problems: list[str] = []
        if not self.host.last_update_success:
            problems.append("host_monitor_failed")
        if self.detector_problem:
            problems.append(self.detector_problem)
        problems.extend(
            f"sink_failing:{name}"
            for name, state in self.dispatcher.status().items()
            if sink_failing(state)
        )
        problems.extend(
            f"serial_disconnected:{board.name}"
            for board in self.serial_boards.values()
            if board.monitor is not None and not board.state.connected
        )
        problems.extend(
            f"detector_failing:{camera.name}"
            for camera in self.cameras.values()
            if camera.running and camera.coordinator.data.detector_error
        )
        problems.extend(
            f"processing_failed:{camera.name}"
            for camera in self.cameras.values()
            if camera.running and camera.coordinator.data.processing_error
        )
        problems.extend(
            f"camera_disconnected:{camera.name}"
            for camera in self.cameras.values()
            if camera.running and not camera.coordinator.data.connected
        )
        return problems

    def status_document(self) -> dict[str, Any]:
        """Return the status document of the `get_status` service."""
        return {
            "running": self.running,
            "startup_completed": self.startup_completed,
            "monitors": {
                "host": "ok" if self.host.last_update_success else "failed",
                "serial": {
                    board.name: board.status() for board in self.serial_boards.values()
                },
            },
            "cameras_processing": sorted(
                camera.name for camera in self.cameras.values() if camera.running
            ),
            "cameras": {
                camera.name: camera.status() for camera in self.cameras.values()
            },
            "alerts_processed": self.alerts_processed,
            "handlers": self.dispatcher.status(),
            "problems": self.problems(),
        }

    def _snapshot(self) -> RuntimeStatus:
        return RuntimeStatus(
            running=self.running,
            startup_completed=self.startup_completed,
            alerts_processed=self.alerts_processed,
            problems=tuple(self.problems()),
            sinks=self.dispatcher.status(),
        )

    @callback
    def _publish(self) -> None:
        self.status.async_set_updated_data(self._snapshot())
