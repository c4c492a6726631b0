"""The Home Assistant side of one camera: source, processor, state and events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
import threading
from typing import TYPE_CHECKING, Any

from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import slugify

from .const import (
    CONF_CAMERA_ENTITY,
    CONF_FPS,
    CONF_LABEL_SCORES,
    CONF_LABELS,
    CONF_MIN_SCORE,
    CONF_MOTION_MASK,
    CONF_STREAM_URL,
    CONF_ZONES,
    DEFAULT_FPS,
    DEFAULT_MIN_SCORE,
    DOMAIN,
    EVENT_DETECTION,
    LOGGER,
    MAX_SNAPSHOT_AGE,
    MAX_SNAPSHOTS_PER_CAMERA,
)
from .coordinator import CameraCoordinator
from .lasting_issue import LastingProblemIssue
from .models import DetectionEvent, EventType, RelativeBox
from .pipeline.source import FrameSlot, SourceError, StreamSource, decode_image
from .pipeline.url import redact_url
from .pipeline.zones import parse_mask, parse_zones

if TYPE_CHECKING:
    from .inference import FrameDetector
    from .pipeline.processor import ProcessorResult
    from .runtime import CameraAlertsConfigEntry

# A camera that stays down this long raises a repair issue.
CAMERA_DOWN_ISSUE_DELAY = timedelta(minutes=5)
# A camera entity whose image breaks a library is read again after a growing pause.
POLL_BACKOFF_MAX_S = 60.0
DIAGNOSTICS_PUSH_INTERVAL_S = 10.0


def parse_label_scores(raw: str) -> dict[str, float]:
    """Parse `person=0.6, car=0.5` into per-label minimum scores."""
    scores: dict[str, float] = {}
    for part in raw.replace(";", ",").split(","):
        if not part.strip():
            continue
        label, sep, value = part.partition("=")
        if not sep:
            label, sep, value = part.partition(":")
        if not sep or not label.strip():
            raise ValueError(f"expected label=score, got {part.strip()!r}")
        score = float(value)
        if not 0.0 < score <= 1.0:
            raise ValueError(f"score for {label.strip()} must be in (0, 1]")
        scores[label.strip()] = score
    return scores


def snapshot_dir(hass: HomeAssistant, camera_name: str) -> Path:
    """Return the media folder that holds a camera's snapshots."""
    media = Path(hass.config.media_dirs.get("local", hass.config.path("media")))
    return media / DOMAIN / slugify(camera_name)


def camera_added_signal(entry_id: str) -> str:
    """Dispatcher signal for a camera that starts after its entry (its server came back)."""
    return f"{DOMAIN}_{entry_id}_camera_added"


class CameraRuntime:
    """Run one camera subentry: frames in, detection events out."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: CameraAlertsConfigEntry,
        subentry: ConfigSubentry,
        detector: FrameDetector,
        detect_lock: threading.Semaphore,
        on_event: Callable[[DetectionEvent], None],
    ) -> None:
        """Prepare the camera from its subentry; nothing runs until `async_start`."""
        self.hass = hass
        self.entry = entry
        self.subentry = subentry
        self.name: str = subentry.data["name"]
        self.slug = slugify(self.name)
        self.coordinator = CameraCoordinator(hass, entry, self.name)
        self.camera_entity_id: str | None = None
        self.latest_result: ProcessorResult | None = None
        self._on_event = on_event
        self._event_listeners: list[Callable[[DetectionEvent], None]] = []
        data = subentry.data
        self.labels: list[str] = list(data.get(CONF_LABELS) or ["person"])
        self._stream_url: str | None = data.get(CONF_STREAM_URL) or None
        self._camera_entity: str | None = data.get(CONF_CAMERA_ENTITY) or None
        self.fps = float(data.get(CONF_FPS, DEFAULT_FPS))
        self._slot = FrameSlot()
        self._source: StreamSource | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._down_issue = LastingProblemIssue(
            hass,
            f"camera_down_{subentry.subentry_id}",
            "camera_down",
            CAMERA_DOWN_ISSUE_DELAY,
            lambda: {
                "camera": self.name,
                "error": self.coordinator.data.last_error or "",
            },
        )
        self._figures_pushed_at = float("-inf")
        min_score = float(data.get(CONF_MIN_SCORE, DEFAULT_MIN_SCORE))
        label_scores = parse_label_scores(data.get(CONF_LABEL_SCORES, ""))
        # The processor needs OpenCV, which is missing on musl (HA OS): import it
        # only when a camera is created, after `runtime` checked it imports.
        from .pipeline.processor import (
            CameraProcessor,
            ProcessorSettings,
        )

        self.processor = CameraProcessor(
            self.name,
            self._slot,
            detector,
            ProcessorSettings(
                fps=self.fps,
                labels=tuple(self.labels),
                min_scores={
                    label: label_scores.get(label, min_score) for label in self.labels
                },
                zones=parse_zones(data.get(CONF_ZONES)),
                motion_mask=parse_mask(data.get(CONF_MOTION_MASK)),
                snapshot_dir=snapshot_dir(hass, self.name),
                max_snapshots=MAX_SNAPSHOTS_PER_CAMERA,
                max_snapshot_age_s=MAX_SNAPSHOT_AGE.total_seconds(),
            ),
            on_result=self._result_from_thread,
            detect_lock=detect_lock,
            on_detector_error=self._detector_error_from_thread,
            on_processing_error=self._processing_error_from_thread,
        )

    @property
    def running(self) -> bool:
        """Return True while frames are being processed."""
        return self.processor.running

    @property
    def source_description(self) -> str:
        """Describe the source without credentials."""
        if self._stream_url:
            return redact_url(self._stream_url)
        return self._camera_entity or ""

    async def async_start(self) -> None:
        """Start reading frames and processing them."""
        if self.processor.running:
            return
        self._slot = self._slot if not self._slot.closed else FrameSlot()
        self.processor.slot = self._slot
        if self._stream_url:
            try:
                self._source = StreamSource(
                    self._stream_url,
                    self._slot,
                    name=self.name,
                    on_state=self._state_from_thread,
                )
            except SourceError as err:
                # A stored URL that can no longer be used degrades this camera only.
                LOGGER.error("Camera %s cannot use its source: %s", self.name, err)
                self._set_connected(False, str(err))
                return
            await self.hass.async_add_executor_job(self._source.start)
        elif self._camera_entity:
            self._poll_task = self.entry.async_create_background_task(
                self.hass, self._async_poll_entity(), f"{DOMAIN} poll {self.name}"
            )
        await self.hass.async_add_executor_job(self.processor.start)
        self._push(enabled=True)

    async def async_stop(self) -> None:
        """Stop processing and reading; joins every thread this camera started."""
        if self._poll_task is not None:
            self._poll_task.cancel()
            await asyncio.gather(self._poll_task, return_exceptions=True)
            self._poll_task = None
        self._slot.close()
        source, self._source = self._source, None
        if source is not None:
            await self.hass.async_add_executor_job(source.stop)
        await self.hass.async_add_executor_job(self.processor.stop)
        # A stopped camera is not a broken one.
        self._down_issue.async_resolved()
        self._push(enabled=False, counts={}, motion=False)

    async def async_shutdown(self) -> None:
        """Stop everything and drop the repair issue this camera may have raised."""
        await self.async_stop()
        await self.coordinator.async_shutdown()

    @callback
    def async_add_event_listener(
        self, listener: Callable[[DetectionEvent], None]
    ) -> CALLBACK_TYPE:
        """Call `listener` with every detection event of this camera."""
        self._event_listeners.append(listener)
        return lambda: self._event_listeners.remove(listener)

    def latest_frame(self) -> Any:
        """Return the newest frame read from the camera, or None."""
        frame = self._slot.latest
        return None if frame is None else frame.image

    async def async_snapshot_jpeg(self) -> bytes | None:
        """Return the latest processed frame with its boxes drawn, as JPEG."""
        return await self.hass.async_add_executor_job(self.processor.annotated_jpeg)

    def status(self) -> dict[str, Any]:
        """Return this camera's part of the status document."""
        state = self.coordinator.data
        # The newest figures, not the throttled ones the entities show.
        result = self.latest_result
        return {
            "running": self.running,
            "connected": state.connected,
            "source": self.source_description,
            "fps": self.fps,
            "processed_fps": result.processed_fps if result else 0.0,
            "skipped_frames": result.skipped_frames if result else 0,
            "frames_processed": result.frames_processed if result else 0,
            "frames_detected": result.frames_detected if result else 0,
            "inference_ms": state.inference_ms,
            "counts": dict(state.counts),
            "last_error": state.last_error,
            "processing_error": state.processing_error,
        }

    async def _async_poll_entity(self) -> None:
        """Feed frames from a Home Assistant camera entity at the detection fps."""
        assert self._camera_entity is not None
        interval = 1.0 / self.fps
        failures = 0
        while True:
            started = self.hass.loop.time()
            delay = interval
            try:
                image = await async_get_image(self.hass, self._camera_entity)
                frame = await self.hass.async_add_executor_job(
                    decode_image, image.content
                )
            except (HomeAssistantError, SourceError) as err:
                self._set_connected(False, str(err))
            except Exception as err:  # a library failing must not end the polling
                failures += 1
                delay = min(POLL_BACKOFF_MAX_S, interval * 2**failures)
                LOGGER.error(
                    "Camera %s: reading %s failed (%s: %s); trying again in %.0f s",
                    self.name,
                    self._camera_entity,
                    type(err).__name__,
                    err,
                    delay,
                    exc_info=failures == 1,
                )
                self._set_connected(False, f"{type(err).__name__}: {err}")
            else:
                failures = 0
                self._slot.put(frame)
                self._set_connected(True, None)
            await asyncio.sleep(max(0.0, delay - (self.hass.loop.time() - started)))

    def _state_from_thread(self, connected: bool, error: str | None) -> None:
        self.hass.loop.call_soon_threadsafe(self._set_connected, connected, error)

    def _detector_error_from_thread(self, error: str | None) -> None:
        self.hass.loop.call_soon_threadsafe(self._set_detector_error, error)

    @callback
    def _set_detector_error(self, error: str | None) -> None:
        self._push(detector_error=error)

    def _processing_error_from_thread(self, error: str | None) -> None:
        self.hass.loop.call_soon_threadsafe(self._set_processing_error, error)

    @callback
    def _set_processing_error(self, error: str | None) -> None:
        self._push(processing_error=error)

    def _result_from_thread(self, result: ProcessorResult) -> None:
        self.hass.loop.call_soon_threadsafe(self._handle_result, result)

    @callback
    def _set_connected(self, connected: bool, error: str | None) -> None:
        state = self.coordinator.data
        if state.connected == connected and state.last_error == error:
            return
        if connected:
            self._down_issue.async_resolved()
            if not state.connected:
                LOGGER.info("Camera %s connected", self.name)
        else:
            if state.connected:
                LOGGER.warning("Camera %s disconnected: %s", self.name, error)
            self._down_issue.async_problem()
        self._push(connected=connected, last_error=error)

    @callback
    def _handle_result(self, result: ProcessorResult) -> None:
        if not result.stale:
            self._update_state(result)
        # A replaced run's events still close (or open) its own tracks.
        self._fire_events(result)

    @callback
    def _update_state(self, result: ProcessorResult) -> None:
        self.latest_result = result
        state = self.coordinator.data
        counts = dict(result.counts)
        now = self.hass.loop.time()
        # Counts and motion drive automations: push them at once. The diagnostic
        # figures change every frame; pushing them that often would write every
        # entity's state (and the recorder) several times a second per camera.
        if (
            counts != state.counts
            or result.motion != state.motion
            or now - self._figures_pushed_at >= DIAGNOSTICS_PUSH_INTERVAL_S
        ):
            self._figures_pushed_at = now
            self._push(
                counts=counts,
                motion=result.motion,
                inference_ms=(
                    result.inference_ms
                    if result.inference_ms is not None
                    else state.inference_ms
                ),
                processed_fps=result.processed_fps,
                skipped_frames=result.skipped_frames,
            )

    @callback
    def _fire_events(self, result: ProcessorResult) -> None:
        for track_event in result.events:
            box = track_event.bbox
            width, height = result.frame_width, result.frame_height
            event = DetectionEvent(
                camera=self.name,
                entity_id=self.camera_entity_id,
                label=track_event.label,
                class_id=track_event.class_id,
                score=track_event.score,
                box=RelativeBox(
                    x=box["x"] / width,
                    y=box["y"] / height,
                    width=box["width"] / width,
                    height=box["height"] / height,
                ),
                frame_width=width,
                frame_height=height,
                track_id=track_event.track_id,
                type=EventType(track_event.type),
                event_id=track_event.event_id,
                timestamp=datetime.now(UTC),
                zones=list(track_event.zones),
                snapshot=track_event.snapshot,
            )
            self.hass.bus.async_fire(EVENT_DETECTION, event.as_dict())
            for listener in list(self._event_listeners):
                listener(event)
            self._on_event(event)

    @callback
    def _push(self, **changes: Any) -> None:
        self.coordinator.async_set_updated_data(
            replace(self.coordinator.data, **changes)
        )
