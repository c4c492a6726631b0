"""Object tracker: stable track ids and the new / update / end lifecycle.

Detections are associated with tracks of the same label, first by IoU
(greedy, best overlap first), then, for what is left, by centroid distance
relative to the track's size (a fast mover whose boxes no longer overlap:
within ``centroid_threshold`` times the track box's longer side, and at most
``max_size_ratio`` times larger or smaller).

Lifecycle of a track:

* ``new`` once it was matched ``min_hits`` times (default 2). A tentative
  track survives ``max_tentative_misses`` processed frames without a match
  ("consecutive-ish" hits); after that it is dropped silently.
* ``update`` at most once per ``update_interval`` seconds, and only when the
  box moved (IoU with the last reported box below ``box_change_iou``) or the
  score changed by ``score_change`` or more since the last event.
* ``end`` once the object has not been seen for ``max_missing`` seconds.

Time is passed in by the caller (monotonic seconds), so behaviour is
deterministic and testable. Call :meth:`Tracker.update` for every processed
frame: with the detector's detections, or with ``None`` when the detector did
not run on that frame (then only the ``end`` timeouts advance). Objects that
stand still make no motion: while :meth:`Tracker.has_active_tracks` is true
the caller should still run the detector now and then (well within
``max_missing``), or their tracks end.

Pure algorithm: no I/O, no Home Assistant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
import math
import uuid

from ..inference.detection import BoundingBox, Detection
from ..models import EventType

BoxXYXY = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class TrackEvent:
    """One lifecycle step of one tracked object."""

    type: EventType
    track_id: int
    label: str
    class_id: int
    score: float
    bbox: BoundingBox  # frame pixels
    frame_width: int
    frame_height: int
    event_id: str  # the same for new/update/end of one track, unique per track
    timestamp: float  # the caller's monotonic time of the frame


@dataclass(slots=True)
class Track:
    """State of one tracked object."""

    track_id: int
    label: str
    class_id: int
    box: BoxXYXY
    score: float
    event_id: str
    first_seen: float
    last_seen: float
    hits: int = 1
    misses: int = 0  # consecutive processed frames without a match
    confirmed: bool = False
    max_score: float = 0.0
    last_event_time: float = -math.inf
    last_event_box: BoxXYXY = (0.0, 0.0, 0.0, 0.0)
    last_event_score: float = 0.0
    frame_size: tuple[int, int] = field(default=(0, 0))

    @property
    def bbox(self) -> BoundingBox:
        """The latest box as x, y, width, height."""
        x1, y1, x2, y2 = self.box
        return BoundingBox(x=x1, y=y1, width=x2 - x1, height=y2 - y1)


def box_iou(a: BoxXYXY, b: BoxXYXY) -> float:
    """IoU of two xyxy boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _xyxy(detection: Detection) -> BoxXYXY:
    box = detection.bbox
    return (box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])


def _centre_distance(a: BoxXYXY, b: BoxXYXY) -> float:
    """Distance of the centres in units of ``a``'s size (its longer side)."""
    dx = (a[0] + a[2] - b[0] - b[2]) / 2.0
    dy = (a[1] + a[3] - b[1] - b[3]) / 2.0
    size = max(a[2] - a[0], a[3] - a[1], 1.0)
    return math.hypot(dx, dy) / size


def _size_ratio(a: BoxXYXY, b: BoxXYXY) -> float:
    area_a = max((a[2] - a[0]) * (a[3] - a[1]), 1e-6)
    area_b = max((b[2] - b[0]) * (b[3] - b[1]), 1e-6)
    return max(area_a, area_b) / min(area_a, area_b)


class Tracker:
    """Associates detections across frames and emits :class:`TrackEvent` objects."""

    def __init__(
        self,
        *,
        min_hits: int = 2,
        update_interval: float = 5.0,
        max_missing: float = 3.0,
        iou_threshold: float = 0.3,
        centroid_threshold: float = 1.5,
        max_size_ratio: float = 4.0,
        box_change_iou: float = 0.7,
        score_change: float = 0.1,
        max_tentative_misses: int = 1,
        event_id_factory: Callable[[], str] | None = None,
    ) -> None:
        if min_hits < 1:
            raise ValueError("min_hits must be at least 1")
        self.min_hits = int(min_hits)
        self.update_interval = float(update_interval)
        self.max_missing = float(max_missing)
        self.iou_threshold = float(iou_threshold)
        self.centroid_threshold = float(centroid_threshold)
        self.max_size_ratio = float(max_size_ratio)
        self.box_change_iou = float(box_change_iou)
        self.score_change = float(score_change)
        self.max_tentative_misses = int(max_tentative_misses)
        self._event_id: Callable[[], str] = event_id_factory or (
            lambda: uuid.uuid4().hex
        )
        self._tracks: list[Track] = []
        self._next_id = 1
        self._frame_size: tuple[int, int] = (0, 0)

    # ------------------------------------------------------------------ queries

    @property
    def tracks(self) -> tuple[Track, ...]:
        """Every live track, tentative ones included."""
        return tuple(self._tracks)

    @property
    def active_tracks(self) -> tuple[Track, ...]:
        """Confirmed tracks (their ``new`` was emitted, their ``end`` not yet)."""
        return tuple(track for track in self._tracks if track.confirmed)

    def has_active_tracks(self) -> bool:
        """Whether any track is alive (tentative ones included: they need a second look)."""
        return bool(self._tracks)

    def counts(self) -> dict[str, int]:
        """Count confirmed tracks per label."""
        result: dict[str, int] = {}
        for track in self._tracks:
            if track.confirmed:
                result[track.label] = result.get(track.label, 0) + 1
        return result

    # ------------------------------------------------------------------ updating

    def update(
        self,
        detections: Sequence[Detection] | None,
        now: float,
        frame_size: tuple[int, int] | None = None,
    ) -> list[TrackEvent]:
        """Feed one processed frame.

        Args:
            detections: the detector's output for this frame, or None when the
                detector did not run (nothing is matched or missed then; only
                the ``end`` timeouts advance).
            now: the frame's time, monotonic seconds.
            frame_size: ``(width, height)`` of the frame, copied into events
                (the last one given is kept).

        """
        if frame_size is not None:
            self._frame_size = (int(frame_size[0]), int(frame_size[1]))
        events: list[TrackEvent] = []
        if detections is not None:
            self._associate(list(detections), now, events)
        events.extend(self._expire(now))
        return events

    def expire(self, now: float) -> list[TrackEvent]:
        """End tracks unseen for ``max_missing`` seconds (``update(None, now)`` does the same)."""
        return self._expire(now)

    def end_all(self, now: float) -> list[TrackEvent]:
        """End every confirmed track now (camera stopped) and forget all tracks."""
        events = [
            self._event(EventType.END, track, now)
            for track in self._tracks
            if track.confirmed
        ]
        self._tracks.clear()
        return events

    # ------------------------------------------------------------------ internals

    def _event(self, kind: EventType, track: Track, now: float) -> TrackEvent:
        width, height = track.frame_size
        return TrackEvent(
            type=kind,
            track_id=track.track_id,
            label=track.label,
            class_id=track.class_id,
            score=track.score,
            bbox=track.bbox,
            frame_width=width,
            frame_height=height,
            event_id=track.event_id,
            timestamp=now,
        )

    def _associate(
        self, detections: list[Detection], now: float, events: list[TrackEvent]
    ) -> None:
        matched_tracks: set[int] = set()
        matches: list[tuple[Track, Detection]] = []
        leftover: set[int] = set()
        for label in sorted(
            {d.class_name for d in detections} | {t.label for t in self._tracks}
        ):
            tracks = [t for t in self._tracks if t.label == label]
            found = [d for d in detections if d.class_name == label]
            pairs, rest = self._match(tracks, found)
            matches.extend(pairs)
            leftover.update(id(d) for d in rest)
            matched_tracks.update(id(track) for track, _ in pairs)
        unmatched = [d for d in detections if id(d) in leftover]

        for track, detection in matches:
            self._apply(track, detection, now, events)

        survivors: list[Track] = []
        for track in self._tracks:
            if id(track) in matched_tracks:
                survivors.append(track)
                continue
            track.misses += 1
            if track.confirmed or track.misses <= self.max_tentative_misses:
                survivors.append(track)
        self._tracks = survivors

        for detection in unmatched:
            track = Track(
                track_id=self._next_id,
                label=detection.class_name,
                class_id=detection.class_id,
                box=_xyxy(detection),
                score=detection.confidence,
                event_id=self._event_id(),
                first_seen=now,
                last_seen=now,
                max_score=detection.confidence,
                frame_size=self._frame_size,
            )
            self._next_id += 1
            self._tracks.append(track)
            if self.min_hits <= 1:
                self._confirm(track, now, events)

    def _match(
        self, tracks: list[Track], detections: list[Detection]
    ) -> tuple[list[tuple[Track, Detection]], list[Detection]]:
        if not tracks or not detections:
            return [], detections
        boxes = [_xyxy(d) for d in detections]
        free_tracks = set(range(len(tracks)))
        free_dets = set(range(len(detections)))
        pairs: list[tuple[Track, Detection]] = []

        def take(candidates: Iterable[tuple[float, int, int]]) -> None:
            for _, ti, di in sorted(candidates):
                if ti in free_tracks and di in free_dets:
                    free_tracks.discard(ti)
                    free_dets.discard(di)
                    pairs.append((tracks[ti], detections[di]))

        by_iou = []
        for ti, track in enumerate(tracks):
            for di, box in enumerate(boxes):
                iou = box_iou(track.box, box)
                if iou >= self.iou_threshold:
                    by_iou.append((-iou, ti, di))
        take(by_iou)

        by_distance = []
        for ti in free_tracks:
            for di in free_dets:
                track_box, box = tracks[ti].box, boxes[di]
                distance = _centre_distance(track_box, box)
                if (
                    distance <= self.centroid_threshold
                    and _size_ratio(track_box, box) <= self.max_size_ratio
                ):
                    by_distance.append((distance, ti, di))
        take(by_distance)
        return pairs, [detections[di] for di in sorted(free_dets)]

    def _apply(
        self, track: Track, detection: Detection, now: float, events: list[TrackEvent]
    ) -> None:
        track.box = _xyxy(detection)
        track.score = detection.confidence
        track.class_id = detection.class_id
        track.max_score = max(track.max_score, detection.confidence)
        track.last_seen = now
        track.hits += 1
        track.misses = 0
        track.frame_size = self._frame_size
        if not track.confirmed:
            if track.hits >= self.min_hits:
                self._confirm(track, now, events)
            return
        if now - track.last_event_time < self.update_interval:
            return
        moved = box_iou(track.box, track.last_event_box) < self.box_change_iou
        rescored = abs(track.score - track.last_event_score) >= self.score_change
        if moved or rescored:
            self._mark_reported(track, now)
            events.append(self._event(EventType.UPDATE, track, now))

    def _confirm(self, track: Track, now: float, events: list[TrackEvent]) -> None:
        track.confirmed = True
        self._mark_reported(track, now)
        events.append(self._event(EventType.NEW, track, now))

    @staticmethod
    def _mark_reported(track: Track, now: float) -> None:
        track.last_event_time = now
        track.last_event_box = track.box
        track.last_event_score = track.score

    def _expire(self, now: float) -> list[TrackEvent]:
        events: list[TrackEvent] = []
        survivors: list[Track] = []
        for track in self._tracks:
            if now - track.last_seen >= self.max_missing:
                if track.confirmed:
                    events.append(self._event(EventType.END, track, now))
                continue
            survivors.append(track)
        self._tracks = survivors
        return events


ObjectTracker = Tracker
