"""One camera's processing loop: newest frame → motion gate → detector → tracker.

Runs in its own thread so capture, decoding and inference never touch the event
loop. Results leave through a callback that the caller hands to its own loop.
Boxes are drawn and JPEGs encoded with OpenCV where it imports, with Pillow
otherwise (musl: HA OS, the HA container).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
import logging
from pathlib import Path
import threading
import time
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

try:
    import cv2

    HAVE_OPENCV = True
except ImportError:  # musl: no OpenCV wheel; Pillow below
    HAVE_OPENCV = False

from ..inference import BoundingBox, Detection, DetectorError, FrameDetector, preprocess
from .motion import MotionGate, detection_region
from .retention import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_SNAPSHOTS,
    RetentionPolicy,
    SnapshotStore,
)
from .source import Frame, FrameSlot
from .tracker import Tracker, TrackEvent
from .zones import Point, Zone, zones_for_box

_LOGGER = logging.getLogger(__name__)

# Tracked objects that stand still make no motion; re-detect them this often
# so their tracks stay alive without paying for inference on every frame.
STATIONARY_RECHECK_S = 1.0
_BOX_COLOUR = (0, 200, 255)  # BGR, like the frames
# Boxes older than this are no longer drawn on the camera entity's image.
BOXES_STALE_S = 2.0
JPEG_QUALITY: Final = 85
# Pixel size of the label text with Pillow: about OpenCV's Hershey simplex at 0.5.
_LABEL_SIZE: Final = 13
# Old snapshots are also looked for this often while a camera runs without events.
SNAPSHOT_PRUNE_INTERVAL_S: Final = 3600.0
# How long `stop()` waits for the thread (a detector stuck on a hung server).
STOP_TIMEOUT_S: Final = 30.0
# After an unexpected error the run starts over after this long, doubling up
# to the cap while it keeps failing.
RESTART_BACKOFF_S: Final = 1.0
RESTART_BACKOFF_MAX_S: Final = 60.0

type ImageBackend = Literal["opencv", "pillow"]


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    """How one camera is processed."""

    fps: float
    labels: tuple[str, ...]
    min_scores: Mapping[str, float] = field(default_factory=dict)
    zones: tuple[Zone, ...] = ()
    motion_mask: tuple[tuple[Point, ...], ...] = ()
    snapshot_dir: Path | None = None
    max_snapshots: int = DEFAULT_MAX_SNAPSHOTS
    max_snapshot_age_s: float = DEFAULT_MAX_AGE_S
    motion_gate: bool = True


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """A tracker event placed in zones, with its snapshot when one was saved."""

    type: str
    track_id: int
    event_id: str
    label: str
    class_id: int
    score: float
    bbox: BoundingBox
    zones: tuple[str, ...]
    snapshot: str | None


@dataclass(frozen=True, slots=True)
class ProcessorResult:
    """What one processed frame produced."""

    frame_width: int
    frame_height: int
    events: tuple[CameraEvent, ...]
    counts: Mapping[str, int]
    motion: bool
    detected: bool
    inference_ms: float | None
    processed_fps: float
    skipped_frames: int
    frames_processed: int
    frames_detected: int
    captured_at: float | None = None
    """Monotonic time the frame was captured (None for the stop-time flush)."""
    stale: bool = False
    """From a run that was stopped and replaced (it outlived `stop()`): its
    events still belong to its tracks, its counts and figures are no one's."""


class _RunState:
    """What one run learns from the frames: motion background, tracks, counters."""

    def __init__(self, settings: ProcessorSettings) -> None:
        self.motion = MotionGate(mask=settings.motion_mask)
        self.tracker = Tracker()
        self.last_seq = 0
        self.last_detect_at = float("-inf")
        self.skipped = 0
        self.processed = 0
        self.detected = 0
        self.recent: deque[float] = deque(maxlen=20)


class _Run:
    """One processing thread with its own stop flag and state.

    A thread that outlives `stop()` (stuck in a detector) keeps its own flag
    set and its own tracker, so a later `start()` never revives or shares it.
    """

    def __init__(self, settings: ProcessorSettings) -> None:
        self.stop = threading.Event()
        self.state = _RunState(settings)
        self.thread: threading.Thread | None = None


class CameraProcessor:
    """Process the newest frames of one camera at a bounded rate."""

    def __init__(
        self,
        name: str,
        slot: FrameSlot,
        detector: FrameDetector,
        settings: ProcessorSettings,
        on_result: Callable[[ProcessorResult], None],
        detect_lock: threading.Semaphore,
        clock: Callable[[], float] = time.monotonic,
        on_detector_error: Callable[[str | None], None] | None = None,
        on_processing_error: Callable[[str | None], None] | None = None,
    ) -> None:
        """Wire the processor; `start` launches its thread.

        `on_detector_error(error)` is called from the processor thread when
        detection starts failing (the error) and when it works again (None).
        `on_processing_error(error)` likewise for an unexpected error (a bug,
        a library failing): the run ends its tracks and starts over with backoff.
        """
        self.name = name
        self.slot = slot
        self.detector = detector
        self.settings = settings
        self._on_result = on_result
        self._on_detector_error = on_detector_error
        self._on_processing_error = on_processing_error
        self.detector_error: str | None = None
        self.processing_error: str | None = None
        self._detect_lock = detect_lock
        self._clock = clock
        self._run = _Run(settings)
        # Threads that did not stop in time; joined again by every `stop()`.
        self._lingering: list[threading.Thread] = []
        self._image_lock = threading.Lock()
        self._latest_image: npt.NDArray[np.uint8] | None = None
        self._latest_detections: list[Detection] = []
        self._latest_detections_at = float("-inf")
        self.snapshots: SnapshotStore | None = (
            None
            if settings.snapshot_dir is None
            else SnapshotStore(
                settings.snapshot_dir,
                RetentionPolicy(settings.max_snapshots, settings.max_snapshot_age_s),
            )
        )

    @property
    def _motion(self) -> MotionGate:
        return self._run.state.motion

    @property
    def running(self) -> bool:
        """Return True while the processing thread runs and was not asked to stop."""
        run = self._run
        return (
            run.thread is not None and run.thread.is_alive() and not run.stop.is_set()
        )

    @property
    def lingering_threads(self) -> int:
        """Threads asked to stop that have not ended yet (stuck in a detector)."""
        self._lingering = [thread for thread in self._lingering if thread.is_alive()]
        return len(self._lingering)

    def start(self) -> None:
        """Start a processing thread with a fresh state (idempotent while running)."""
        if self.running:
            return
        run = _Run(self.settings)
        run.thread = threading.Thread(
            target=self._loop,
            args=(run,),
            name=f"camera_alerts.processor.{self.name}",
            daemon=True,
        )
        self._run = run
        run.thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop the thread and wait for it; tracks in flight are ended.

        Returns False when the thread (or one from an earlier stop) has not
        ended within `timeout`: it ends by itself once its detector returns,
        with its own stop flag and tracks, and the next `stop()` waits again.
        """
        run = self._run
        run.stop.set()
        if run.thread is not None and run.thread not in self._lingering:
            self._lingering.append(run.thread)
        deadline = time.monotonic() + timeout
        for thread in self._lingering:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.lingering_threads:
            _LOGGER.warning(
                "Camera %s: the processor did not stop within %g s (detector "
                "busy); it ends once the detector returns",
                self.name,
                timeout,
            )
            return False
        return True

    def annotated_jpeg(self) -> bytes | None:
        """Encode the latest processed frame with its boxes drawn (blocking)."""
        with self._image_lock:
            image = self._latest_image
            detections = list(self._latest_detections)
        if image is None:
            return None
        return encode_jpeg(draw_detections(image, detections))

    def _loop(self, run: _Run) -> None:
        interval = 1.0 / self.settings.fps
        next_tick = self._clock()
        failures = 0
        pruned_at = float("-inf")
        while not run.stop.is_set():
            if self._clock() - pruned_at >= SNAPSHOT_PRUNE_INTERVAL_S:
                # What earlier runs left counts too: the bound holds across restarts.
                pruned_at = self._clock()
                self._prune_snapshots()
            slot = self.slot
            state = run.state
            frame = slot.get_newer(state.last_seq, timeout=min(1.0, interval * 2))
            if frame is None:
                if slot.closed:
                    # Nothing will come: a closed slot never opens again.
                    break
                continue
            if state.last_seq:
                state.skipped += max(0, frame.seq - state.last_seq - 1)
            state.last_seq = frame.seq
            try:
                result = self._process(frame, run)
            except DetectorError as err:
                self._detector_failed(str(err), run)
            except Exception as err:  # a bug or a library failing: never die silently
                failures += 1
                if not self._restart_after(err, run, failures):
                    break
                next_tick = self._clock()
                continue
            else:
                if run is self._run:
                    if self.detector_error is not None:
                        self._detector_recovered()
                    if self.processing_error is not None:
                        self._processing_recovered()
                failures = 0
                self._on_result(result)
            next_tick += interval
            wait = next_tick - self._clock()
            if wait > 0:
                run.stop.wait(wait)
            else:
                next_tick = self._clock()
        self._end_tracks(run)

    def _restart_after(self, err: Exception, run: _Run, failures: int) -> bool:
        """End the run's tracks, say so, wait and start over; False when stopped."""
        delay = min(RESTART_BACKOFF_MAX_S, RESTART_BACKOFF_S * 2 ** (failures - 1))
        error = f"{type(err).__name__}: {err}"
        _LOGGER.error(
            "Camera %s: processing failed (%s); starting over in %g s",
            self.name,
            error,
            delay,
            exc_info=failures == 1,
        )
        try:
            self._end_tracks(run)
        except Exception:  # the tracks go with the state below either way
            _LOGGER.exception("Camera %s: cannot end the tracks", self.name)
        run.state = _RunState(self.settings)
        if run is self._run:
            changed = self.processing_error is None
            self.processing_error = error
            if changed and self._on_processing_error is not None:
                self._on_processing_error(error)
        return not run.stop.wait(delay)

    def _processing_recovered(self) -> None:
        _LOGGER.info("Camera %s: processing works again", self.name)
        self.processing_error = None
        if self._on_processing_error is not None:
            self._on_processing_error(None)

    def _detector_failed(self, error: str, run: _Run) -> None:
        if run is not self._run:
            return
        # A server that is down fails every frame: say so once, not 5 times a second.
        if self.detector_error is None:
            _LOGGER.warning("Camera %s: detection failed: %s", self.name, error)
        else:
            _LOGGER.debug("Camera %s: detection failed: %s", self.name, error)
        changed = self.detector_error is None
        self.detector_error = error
        if changed and self._on_detector_error is not None:
            self._on_detector_error(error)

    def _detector_recovered(self) -> None:
        _LOGGER.info("Camera %s: detection works again", self.name)
        self.detector_error = None
        if self._on_detector_error is not None:
            self._on_detector_error(None)

    def _end_tracks(self, run: _Run) -> None:
        """Close every open track so listeners never keep a ghost object."""
        state = run.state
        events = state.tracker.end_all(self._clock())
        if not events:
            return
        width, height = events[0].frame_width, events[0].frame_height
        self._on_result(
            ProcessorResult(
                frame_width=width,
                frame_height=height,
                events=tuple(
                    self._camera_event(event, None, width, height) for event in events
                ),
                counts={},
                motion=False,
                detected=False,
                inference_ms=None,
                processed_fps=0.0,
                skipped_frames=state.skipped,
                frames_processed=state.processed,
                frames_detected=state.detected,
                stale=run is not self._run,
            )
        )

    def process(self, frame: Frame) -> ProcessorResult:
        """Run one frame through the gate, the detector and the tracker."""
        return self._process(frame, self._run)

    def _process(self, frame: Frame, run: _Run) -> ProcessorResult:
        state = run.state
        image = frame.image
        height, width = image.shape[:2]
        now = self._clock()
        state.processed += 1
        state.recent.append(now)
        motion_boxes = state.motion.update(image) if self.settings.motion_gate else []
        region: tuple[float, float, float, float] | None = None
        detect = not self.settings.motion_gate
        if motion_boxes:
            detect = True
            region = detection_region(
                motion_boxes, (width, height), self.detector.input_size
            )
        elif state.tracker.has_active_tracks() and (
            now - state.last_detect_at >= STATIONARY_RECHECK_S
        ):
            detect = True
        detections: list[Detection] | None = None
        inference_ms: float | None = None
        if detect:
            started = time.perf_counter()
            with self._detect_lock:
                detections = self.detector.detect(image, region=region)
            inference_ms = (time.perf_counter() - started) * 1000
            state.last_detect_at = now
            state.detected += 1
            if self.settings.zones:
                detections = [d for d in detections if self._zones_of(d, width, height)]
        events = state.tracker.update(detections, now, (width, height))
        camera_events = tuple(
            self._camera_event(e, image, width, height) for e in events
        )
        stale = run is not self._run
        if not stale:
            self._show(image, detections, now)
        return ProcessorResult(
            frame_width=width,
            frame_height=height,
            events=camera_events,
            counts=state.tracker.counts(),
            motion=bool(motion_boxes),
            detected=detect,
            inference_ms=inference_ms,
            processed_fps=_fps(state.recent),
            skipped_frames=state.skipped,
            frames_processed=state.processed,
            frames_detected=state.detected,
            captured_at=frame.captured_at,
            stale=stale,
        )

    def _show(
        self,
        image: npt.NDArray[np.uint8],
        detections: list[Detection] | None,
        now: float,
    ) -> None:
        with self._image_lock:
            # The camera entity shows the newest frame; its boxes come from the
            # last detector run while that is recent enough to still be true.
            self._latest_image = image
            if detections is not None:
                self._latest_detections = detections
                self._latest_detections_at = now
            elif now - self._latest_detections_at > BOXES_STALE_S:
                self._latest_detections = []

    def _zones_of(self, detection: Detection, width: int, height: int) -> list[str]:
        box = detection.bbox
        return zones_for_box(
            self.settings.zones,
            box["x"] / width,
            box["y"] / height,
            box["width"] / width,
            box["height"] / height,
        )

    def _camera_event(
        self,
        event: TrackEvent,
        image: npt.NDArray[np.uint8] | None,
        width: int,
        height: int,
    ) -> CameraEvent:
        box = event.bbox
        zones = zones_for_box(
            self.settings.zones,
            box["x"] / width,
            box["y"] / height,
            box["width"] / width,
            box["height"] / height,
        )
        snapshot = None
        if event.type == "new" and image is not None and self.snapshots is not None:
            snapshot = self._save_snapshot(event, image)
        return CameraEvent(
            type=str(event.type),
            track_id=event.track_id,
            event_id=event.event_id,
            label=event.label,
            class_id=event.class_id,
            score=event.score,
            bbox=box,
            zones=tuple(zones),
            snapshot=snapshot,
        )

    def _save_snapshot(
        self, event: TrackEvent, image: npt.NDArray[np.uint8]
    ) -> str | None:
        assert self.snapshots is not None
        drawn = draw_detections(
            image, [Detection(event.class_id, event.label, event.score, event.bbox)]
        )
        data = encode_jpeg(drawn)
        if data is None:
            return None
        try:
            path = self.snapshots.save(f"{event.event_id}.jpg", data)
        except OSError as err:
            _LOGGER.warning("Camera %s: cannot save snapshot: %s", self.name, err)
            return None
        return str(path)

    def _prune_snapshots(self) -> None:
        if self.snapshots is None:
            return
        try:
            removed = self.snapshots.prune()
        except Exception as err:  # an unreadable folder must not stop detection
            _LOGGER.warning("Camera %s: cannot prune snapshots: %s", self.name, err)
            return
        if removed:
            _LOGGER.debug(
                "Camera %s: removed %d old snapshot(s)", self.name, len(removed)
            )


def _fps(recent: deque[float]) -> float:
    if len(recent) < 2:
        return 0.0
    span = recent[-1] - recent[0]
    return round((len(recent) - 1) / span, 2) if span > 0 else 0.0


def _image_backend(backend: ImageBackend | None) -> ImageBackend:
    if backend is None:
        return "opencv" if HAVE_OPENCV else "pillow"
    if backend not in ("opencv", "pillow"):
        raise ValueError(f"Unknown image backend {backend!r}")
    if backend == "opencv" and not HAVE_OPENCV:
        raise ValueError(
            "The opencv image backend needs OpenCV, which is not installed"
        )
    return backend


def encode_jpeg(
    image: npt.NDArray[np.uint8], *, backend: ImageBackend | None = None
) -> bytes | None:
    """Encode a BGR (or grey) frame as JPEG; None when it cannot be encoded.

    `backend` is "opencv" or "pillow"; None takes OpenCV where it imports.
    """
    return preprocess.encode_jpeg(
        image, JPEG_QUALITY, opencv=_image_backend(backend) == "opencv"
    )


@cache
def _label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: no font file to find on the host.
    return ImageFont.load_default(size=_LABEL_SIZE)


def draw_detections(
    image: npt.NDArray[np.uint8],
    detections: list[Detection],
    *,
    backend: ImageBackend | None = None,
) -> npt.NDArray[np.uint8]:
    """Return a copy of the frame with labelled boxes.

    `backend` is "opencv" or "pillow"; None takes OpenCV where it imports.
    """
    if _image_backend(backend) == "pillow":
        return _draw_with_pillow(image, detections)
    drawn = image.copy()
    for detection in detections:
        box = detection.bbox
        x1, y1 = int(box["x"]), int(box["y"])
        x2, y2 = int(box["x"] + box["width"]), int(box["y"] + box["height"])
        cv2.rectangle(drawn, (x1, y1), (x2, y2), _BOX_COLOUR, 2)
        cv2.putText(
            drawn,
            f"{detection.class_name} {detection.confidence:.2f}",
            (x1, max(12, y1 - 6)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            _BOX_COLOUR,
            1,
            cv2.LINE_AA,
        )
    return drawn


def _draw_with_pillow(
    image: npt.NDArray[np.uint8], detections: list[Detection]
) -> npt.NDArray[np.uint8]:
    # Pillow takes the BGR array for RGB; handing it the colour in BGR order
    # too keeps the channels right without converting the frame twice.
    canvas = Image.fromarray(np.ascontiguousarray(image))
    colour: tuple[int, ...] | int = _BOX_COLOUR if image.ndim == 3 else _BOX_COLOUR[0]
    draw = ImageDraw.Draw(canvas)
    font = _label_font()
    for detection in detections:
        box = detection.bbox
        x1, y1 = int(box["x"]), int(box["y"])
        x2, y2 = int(box["x"] + box["width"]), int(box["y"] + box["height"])
        if x2 < x1 or y2 < y1:
            continue
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=2)
        text = f"{detection.class_name} {detection.confidence:.2f}"
        baseline = (x1, max(12, y1 - 6))
        if isinstance(font, ImageFont.FreeTypeFont):
            draw.text(baseline, text, fill=colour, font=font, anchor="ls")
        else:
            # The bitmap fallback font cannot anchor on its baseline.
            top = baseline[1] - font.getbbox(text)[3]
            draw.text((baseline[0], top), text, fill=colour, font=font)
    return np.asarray(canvas, dtype=np.uint8).copy()
