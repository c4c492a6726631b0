"""Tracker lifecycle with caller-supplied time."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from custom_components.camera_alerts.inference import BoundingBox, Detection
from custom_components.camera_alerts.models import EventType
from custom_components.camera_alerts.pipeline.tracker import (
    Tracker,
    TrackEvent,
    box_iou,
)

FRAME = (1280, 720)
FPS = 5.0


def det(
    label: str,
    x: float,
    y: float,
    w: float = 100,
    h: float = 200,
    score: float = 0.8,
    class_id: int = 0,
) -> Detection:
    return Detection(
        class_id=class_id,
        class_name=label,
        confidence=score,
        bbox=BoundingBox(x=x, y=y, width=w, height=h),
    )


def kinds(events: list[TrackEvent]) -> list[str]:
    return [str(e.type) for e in events]


def run(
    tracker: Tracker, frames: list[list[Detection] | None], start: float = 0.0
) -> list[TrackEvent]:
    events: list[TrackEvent] = []
    for index, detections in enumerate(frames):
        events += tracker.update(detections, start + index / FPS, FRAME)
    return events


def test_new_after_two_hits_with_all_fields() -> None:
    tracker = Tracker()
    assert tracker.update([det("person", 100, 100)], 0.0, FRAME) == []
    assert tracker.has_active_tracks()
    assert tracker.counts() == {}
    events = tracker.update([det("person", 104, 102, score=0.83)], 0.2, FRAME)
    assert kinds(events) == ["new"]
    event = events[0]
    assert event.type is EventType.NEW
    assert event.track_id == 1
    assert event.label == "person"
    assert event.class_id == 0
    assert event.score == pytest.approx(0.83)
    assert event.bbox == {"x": 104, "y": 102, "width": 100, "height": 200}
    assert (event.frame_width, event.frame_height) == FRAME
    assert len(event.event_id) == 32
    assert event.timestamp == 0.2
    assert tracker.counts() == {"person": 1}
    assert [t.track_id for t in tracker.active_tracks] == [1]


def test_person_standing_still_for_a_minute() -> None:
    tracker = Tracker()
    rng = np.random.default_rng(0)
    frames: list[list[Detection] | None] = []
    for _ in range(int(60 * FPS)):
        jitter = rng.uniform(-3, 3, size=4)
        score = float(rng.uniform(0.68, 0.76))
        frames.append(
            [
                det(
                    "person",
                    500 + jitter[0],
                    200 + jitter[1],
                    120 + jitter[2],
                    380 + jitter[3],
                    score,
                )
            ]
        )
    frames += [[] for _ in range(int(5 * FPS))]  # walked out of view
    events = run(tracker, frames)
    assert kinds(events).count("new") == 1
    assert kinds(events).count("end") == 1
    assert kinds(events).count("update") <= 3
    assert len({e.event_id for e in events}) == 1
    assert len({e.track_id for e in events}) == 1
    end = events[-1]
    assert end.type == "end"
    assert end.timestamp == pytest.approx(60 + 3.0, abs=1 / FPS + 1e-9)
    assert not tracker.has_active_tracks()


def test_walking_person_updates_are_rate_limited() -> None:
    tracker = Tracker()
    frames = [[det("person", 20 + 8 * i, 300)] for i in range(int(20 * FPS))]
    events = run(tracker, frames)
    updates = [e for e in events if e.type == "update"]
    assert kinds(events)[0] == "new"
    assert 2 <= len(updates) <= 4
    times = [e.timestamp for e in events if e.type in ("new", "update")]
    assert all(b - a >= 5.0 - 1e-9 for a, b in itertools.pairwise(times))
    assert len({e.track_id for e in events}) == 1


def test_score_change_alone_triggers_an_update_after_the_interval() -> None:
    tracker = Tracker()
    events = run(
        tracker,
        [[det("person", 100, 100, score=0.5)]] * 30
        + [[det("person", 100, 100, score=0.9)]] * 5,
    )
    assert kinds(events) == ["new", "update"]
    assert events[1].score == pytest.approx(0.9)


def test_end_after_max_missing_seconds() -> None:
    tracker = Tracker(max_missing=3.0)
    run(tracker, [[det("car", 10, 10)]] * 3)
    assert tracker.update([], 2.9 + 0.4, FRAME) == []  # last seen at 0.4, 2.9 s ago
    events = tracker.update(None, 3.4, FRAME)
    assert kinds(events) == ["end"]
    assert events[0].bbox["x"] == 10


def test_detector_not_run_counts_no_misses() -> None:
    tracker = Tracker()
    tracker.update([det("person", 100, 100)], 0.0, FRAME)
    for t in (0.2, 0.4, 0.6):
        assert tracker.update(None, t, FRAME) == []
    assert kinds(tracker.update([det("person", 100, 100)], 0.8, FRAME)) == ["new"]


def test_tentative_track_survives_one_gap_not_two() -> None:
    tracker = Tracker()
    events = run(tracker, [[det("person", 100, 100)], [], [det("person", 102, 100)]])
    assert kinds(events) == ["new"]
    tracker = Tracker()
    events = run(
        tracker,
        [
            [det("person", 100, 100)],
            [],
            [],
            [det("person", 102, 100)],
            [det("person", 104, 100)],
        ],
    )
    assert kinds(events) == ["new"]
    assert events[0].track_id == 2  # the first sighting was dropped silently


def test_two_objects_keep_their_ids_and_labels_are_separate() -> None:
    tracker = Tracker()
    frames = [
        [
            det("person", 100 + 5 * i, 100),
            det("person", 800 - 5 * i, 120),
            det("dog", 100 + 5 * i, 100, 100, 200, 0.6, 16),
        ]
        for i in range(10)
    ]
    events = run(tracker, frames)
    news = [e for e in events if e.type == "new"]
    assert sorted((e.label, e.track_id) for e in news) == [
        ("dog", 3),
        ("person", 1),
        ("person", 2),
    ]
    assert tracker.counts() == {"person": 2, "dog": 1}
    positions = {t.track_id: t.bbox["x"] for t in tracker.tracks}
    assert positions[1] == 145
    assert positions[2] == 755


def test_centroid_fallback_for_fast_movers() -> None:
    tracker = Tracker()
    # 80 px steps on a 60x60 box: no overlap between frames, but within a box size
    events = run(tracker, [[det("car", 100 + 80 * i, 300, 60, 60)] for i in range(6)])
    assert kinds(events) == ["new"]
    assert [t.track_id for t in tracker.tracks] == [1]
    # too far, or a very different size: a new track
    tracker.update([det("car", 1000, 300, 60, 60)], 2.0, FRAME)
    assert len(tracker.tracks) == 2


def test_min_hits_one_end_all_and_custom_ids() -> None:
    ids = iter(["a", "b"])
    tracker = Tracker(min_hits=1, event_id_factory=lambda: next(ids))
    events = tracker.update(
        [det("person", 0, 0), det("cat", 500, 500, 50, 50)], 0.0, FRAME
    )
    assert kinds(events) == ["new", "new"]
    assert [e.event_id for e in events] == ["a", "b"]
    ended = tracker.end_all(1.0)
    assert kinds(ended) == ["end", "end"]
    assert tracker.tracks == ()
    assert tracker.expire(2.0) == []


def test_frame_size_defaults_and_is_remembered() -> None:
    tracker = Tracker(min_hits=1)
    assert tracker.update([det("person", 0, 0)], 0.0)[0].frame_width == 0
    tracker.update([det("person", 0, 0)], 0.2, (640, 480))
    events = tracker.update([], 9.0)
    assert (events[0].frame_width, events[0].frame_height) == (640, 480)


def test_invalid_settings_and_iou() -> None:
    with pytest.raises(ValueError, match="min_hits"):
        Tracker(min_hits=0)
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 0, 10), (0, 0, 0, 10)) == 0.0
