"""FrameSlot: the newest frame wins, slow consumers skip, waiters wake."""

from __future__ import annotations

import threading

import numpy as np

from custom_components.camera_alerts.pipeline.source import Frame, FrameSlot

from .conftest import WAIT_GUARD


def image(value: int) -> np.ndarray:
    return np.full((4, 6, 3), value, np.uint8)


def test_newest_frame_wins_and_skips_are_counted() -> None:
    slot = FrameSlot()
    for value in (1, 2, 3):
        slot.put(image(value))

    frame = slot.get_newer(0, timeout=0)

    assert frame is not None
    assert frame.seq == 3
    assert int(frame.image[0, 0, 0]) == 3
    assert slot.frames_in == 3
    assert slot.frames_skipped == 2


def test_a_taken_frame_is_not_counted_as_skipped() -> None:
    slot = FrameSlot()
    slot.put(image(1))
    assert slot.get_newer(0, timeout=0) is not None
    slot.put(image(2))
    taken = slot.get_newer(1, timeout=0)

    assert taken is not None
    assert taken.seq == 2
    assert slot.frames_skipped == 0


def test_slow_consumer_jumps_to_the_newest_frame() -> None:
    slot = FrameSlot()
    slot.put(image(1))
    first = slot.get_newer(0, timeout=0)
    assert first is not None
    for value in range(2, 8):
        slot.put(image(value))

    second = slot.get_newer(first.seq, timeout=0)

    assert second is not None
    assert second.seq == 7
    assert slot.frames_skipped == 5


def test_get_newer_times_out_without_a_newer_frame() -> None:
    slot = FrameSlot()
    assert slot.get_newer(0, timeout=0.05) is None
    frame = slot.put(image(1))
    assert frame is not None
    assert slot.get_newer(frame.seq, timeout=0.05) is None
    assert slot.latest is frame


def test_frames_are_numbered_and_timestamped_in_order() -> None:
    slot = FrameSlot()
    first = slot.put(image(1))
    second = slot.put(image(2))
    assert first is not None
    assert second is not None
    assert (first.seq, second.seq) == (1, 2)
    assert second.captured_at >= first.captured_at


def test_waiter_wakes_on_put_from_another_thread() -> None:
    slot = FrameSlot()
    got: list[Frame | None] = []
    waiting = threading.Event()

    def consume() -> None:
        waiting.set()
        got.append(slot.get_newer(0, timeout=WAIT_GUARD))

    consumer = threading.Thread(target=consume)
    consumer.start()
    waiting.wait(WAIT_GUARD)
    slot.put(image(9))
    consumer.join(WAIT_GUARD)

    assert not consumer.is_alive()
    assert len(got) == 1
    assert got[0] is not None
    assert int(got[0].image[0, 0, 0]) == 9


def test_close_wakes_waiters_and_ignores_later_frames() -> None:
    slot = FrameSlot()
    got: list[Frame | None] = []
    consumer = threading.Thread(
        target=lambda: got.append(slot.get_newer(0, WAIT_GUARD))
    )
    consumer.start()

    slot.close()
    consumer.join(WAIT_GUARD)

    assert not consumer.is_alive()
    assert got == [None]
    assert slot.closed
    assert slot.put(image(1)) is None
    assert slot.frames_in == 0
    assert slot.get_newer(0, timeout=0) is None
