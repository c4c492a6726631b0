"""The processor's thread: stopping a stuck run, a closed slot, unexpected errors.

The real bundled model runs on a real photo of a person; a thin wrapper around it
can hold a call (an inference server that hangs) or raise (a bug) on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
import threading
import time
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from custom_components.camera_alerts.inference import (
    REMOTE_CONCURRENCY,
    Detection,
    load_detector,
)
from custom_components.camera_alerts.pipeline import processor as processor_module
from custom_components.camera_alerts.pipeline.processor import (
    CameraEvent,
    CameraProcessor,
    ProcessorResult,
    ProcessorSettings,
)
from custom_components.camera_alerts.pipeline.source import FrameSlot

PHOTO = Path(__file__).parent.parent / "inference" / "data" / "person.jpg"
# Guards so a broken test fails instead of hanging; never asserted on.
GUARD_S = 30.0


class ControlledDetector:
    """The real detector, which can be told to hang or to fail."""

    def __init__(self) -> None:
        self.real = load_detector(labels=["person"], intra_op_num_threads=1)
        self.input_size = self.real.input_size
        self.hold = threading.Event()
        self.held = threading.Event()
        self.release = threading.Event()
        self.error: Exception | None = None

    def detect(
        self, image: npt.NDArray[np.uint8], region: Any = None
    ) -> list[Detection]:
        if self.hold.is_set():
            self.hold.clear()
            self.held.set()
            self.release.wait(GUARD_S)
        if self.error is not None:
            raise self.error
        return self.real.detect(image, region=region)


class Recorder:
    """Results and error reports as the processor thread delivers them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results: list[ProcessorResult] = []
        self.errors: list[str | None] = []

    def result(self, result: ProcessorResult) -> None:
        with self.lock:
            self.results.append(result)

    def error(self, error: str | None) -> None:
        with self.lock:
            self.errors.append(error)

    def events(self, kind: str | None = None) -> list[CameraEvent]:
        with self.lock:
            return [
                event
                for result in self.results
                for event in result.events
                if kind is None or event.type == kind
            ]


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.01)


@pytest.fixture
def detector() -> ControlledDetector:
    return ControlledDetector()


@pytest.fixture
def slot() -> Iterator[FrameSlot]:
    """A slot fed with the photo at about 25 frames a second, like a camera."""
    slot = FrameSlot()
    image = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    assert image is not None
    done = threading.Event()

    def feed() -> None:
        while not done.wait(0.04):
            slot.put(image)

    feeder = threading.Thread(target=feed, name="test-feeder")
    feeder.start()
    yield slot
    done.set()
    feeder.join()


def make_processor(
    slot: FrameSlot, detector: ControlledDetector, recorder: Recorder
) -> CameraProcessor:
    return CameraProcessor(
        "porch",
        slot,
        detector,  # type: ignore[arg-type]
        ProcessorSettings(fps=10.0, labels=("person",), motion_gate=False),
        recorder.result,
        # An inference server takes a few requests at once (REMOTE_CONCURRENCY),
        # so a hung one does not block a new run by itself.
        threading.Semaphore(REMOTE_CONCURRENCY),
        on_processing_error=recorder.error,
    )


def start_with_a_track(
    slot: FrameSlot, detector: ControlledDetector
) -> tuple[Recorder, CameraProcessor]:
    """Start a processor and wait until the person on the photo is a track."""
    recorder = Recorder()
    processor = make_processor(slot, detector, recorder)
    processor.start()
    wait_for(lambda: len(recorder.events("new")) == 1)
    return recorder, processor


def assert_every_track_ends_once(recorder: Recorder) -> None:
    kinds: dict[str, list[str]] = {}
    for event in recorder.events():
        kinds.setdefault(event.event_id, []).append(event.type)
    assert kinds
    for steps in kinds.values():
        assert steps[0] == "new"
        assert steps.count("new") == 1
        assert steps[-1] == "end"
        assert steps.count("end") == 1


def test_a_stuck_run_outlives_stop_without_sharing_anything(
    slot: FrameSlot, detector: ControlledDetector
) -> None:
    """A restart while the detector hangs: the old thread ends alone, its track too."""
    recorder, processor = start_with_a_track(slot, detector)
    [first] = recorder.events("new")
    old_thread = processor._run.thread
    assert old_thread is not None

    detector.hold.set()
    detector.held.wait(GUARD_S)
    assert processor.stop(timeout=0.05) is False
    assert not processor.running
    assert processor.lingering_threads == 1

    processor.start()
    assert processor.running
    # The new run has its own tracker: the same person is a new track.
    wait_for(lambda: len(recorder.events("new")) == 2)
    assert recorder.events("new")[1].event_id != first.event_id

    detector.release.set()
    # The old thread keeps its own stop flag: it ends once its detector returns.
    old_thread.join(GUARD_S)
    assert not old_thread.is_alive()
    assert processor.running
    ends = recorder.events("end")
    assert [event.event_id for event in ends] == [first.event_id]
    [old_end] = [r for r in recorder.results if any(e.type == "end" for e in r.events)]
    assert old_end.stale

    assert processor.stop() is True
    assert processor.lingering_threads == 0
    assert_every_track_ends_once(recorder)
    # Only the old thread's last frame and its flush are marked: they speak for
    # its own track alone.
    stale = [r for r in recorder.results if r.stale]
    assert old_end in stale
    assert {e.event_id for r in stale for e in r.events} == {first.event_id}


def test_a_closed_slot_ends_the_run(
    slot: FrameSlot, detector: ControlledDetector
) -> None:
    """Between `slot.close()` and `stop()` the thread neither spins nor lingers."""
    recorder, processor = start_with_a_track(slot, detector)
    thread = processor._run.thread
    assert thread is not None

    slot.close()
    thread.join(GUARD_S)
    assert not thread.is_alive()
    assert_every_track_ends_once(recorder)
    assert processor.stop() is True


def test_an_unexpected_error_ends_tracks_and_starts_over(
    slot: FrameSlot, detector: ControlledDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a DetectorError: the tracks end, it is reported, and the run starts over."""
    monkeypatch.setattr(processor_module, "RESTART_BACKOFF_S", 0.05)
    recorder, processor = start_with_a_track(slot, detector)

    detector.error = ZeroDivisionError("a bug")
    wait_for(lambda: len(recorder.events("end")) == 1)
    wait_for(lambda: recorder.errors == ["ZeroDivisionError: a bug"])
    with recorder.lock:
        assert dict(recorder.results[-1].counts) == {}
    assert processor.running
    assert processor.processing_error == "ZeroDivisionError: a bug"

    detector.error = None
    wait_for(lambda: len(recorder.events("new")) == 2)
    wait_for(lambda: recorder.errors == ["ZeroDivisionError: a bug", None])
    assert processor.processing_error is None
    assert processor.stop() is True
    assert_every_track_ends_once(recorder)
