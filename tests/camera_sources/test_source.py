"""StreamSource against real files, a real RTSP server and a real MJPEG server.

Every test runs once per capture backend (OpenCV, and PyAV as on HA OS); the
backend not under test fails the test if anything reaches it. What only one
backend has is in `test_pyav_source.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import logging
from pathlib import Path
import socket

import pytest

from custom_components.camera_alerts.pipeline import source as source_module
from custom_components.camera_alerts.pipeline.source import (
    CAPTURE_BACKENDS,
    FrameSlot,
    InvalidSourceUrl,
    StreamSource,
)

from .conftest import (
    CLIP_SIZE,
    WAIT_GUARD,
    StateLog,
    counting_frames,
    grey_index,
    wait_for,
)
from .media import HOST, MjpegServer, RtspServer, free_port, make_clip

FAST_RETRY = {
    "reconnect_base": 0.05,
    "reconnect_max": 0.2,
    "open_timeout": 3.0,
    "read_timeout": 3.0,
}


@pytest.fixture(autouse=True, params=CAPTURE_BACKENDS)
def capture(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Capture through one backend; reaching the other one fails the test."""
    backend: str = request.param
    monkeypatch.setattr(source_module, "capture_backend", backend)
    other = (
        source_module.PyAvCapture
        if backend == "opencv"
        else source_module.OpenCvCapture
    )

    def refuse(*args: object) -> None:
        raise AssertionError(f"{other.__name__} used in a {backend} test")

    monkeypatch.setattr(other, "open", refuse)
    return backend


@contextlib.contextmanager
def running(source: StreamSource) -> Iterator[StreamSource]:
    source.start()
    try:
        yield source
    finally:
        assert source.stop()
        assert not source.running


def frames_of(slot: FrameSlot, count: int) -> list[int]:
    """Take `count` successive frames from the slot; return their sequence numbers."""
    seqs: list[int] = []
    last = 0
    for _ in range(count):
        frame = slot.get_newer(last, WAIT_GUARD)
        assert frame is not None
        seqs.append(frame.seq)
        last = frame.seq
    return seqs


@pytest.fixture(scope="module")
def counting_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten frames at 20 fps whose grey level is their index."""
    path = tmp_path_factory.mktemp("counting") / "counting.mp4"
    return make_clip(path, counting_frames(10), fps=20.0, size=CLIP_SIZE)


def test_file_source_loops_in_order(counting_clip: Path, state_log: StateLog) -> None:
    slot = FrameSlot()
    source = StreamSource(str(counting_clip), slot, name="file", on_state=state_log)
    seen: list[int] = []

    with running(source):
        last = 0
        while len(seen) < 25:
            frame = slot.get_newer(last, WAIT_GUARD)
            assert frame is not None
            seen.append(grey_index(frame.image))
            last = frame.seq

    wraps = [i for i in range(1, len(seen)) if seen[i] < seen[i - 1]]
    assert wraps, seen
    # Between wraps the file plays forward; a wrap goes back to the start.
    assert all(seen[i] >= seen[i - 1] for i in range(1, len(seen)) if i not in wraps)
    assert all(seen[i] <= 1 for i in wraps), seen
    assert source.reconnects == 0
    assert state_log.calls == [(True, None)]
    assert state_log.threads == {"camera_alerts_source_file"}


def test_file_source_is_paced_at_the_file_rate(counting_clip: Path) -> None:
    slot = FrameSlot()
    source = StreamSource(str(counting_clip), slot, name="paced")
    with running(source):
        frames = []
        last = 0
        while len(frames) < 8:
            frame = slot.get_newer(last, WAIT_GUARD)
            assert frame is not None
            frames.append(frame)
            last = frame.seq

    # A paced 20 fps file hands over frames about 50 ms apart; unpaced, ten
    # frames of 320x180 decode in a few milliseconds. Load can only slow it down.
    span = frames[-1].captured_at - frames[0].captured_at
    steps = frames[-1].seq - frames[0].seq
    assert span / steps >= 0.8 * (1 / 20.0)


def test_file_source_without_loop_ends(
    counting_clip: Path, state_log: StateLog
) -> None:
    slot = FrameSlot()
    source = StreamSource(
        str(counting_clip), slot, name="once", on_state=state_log,
        realtime_files=False, loop_files=False,
    )  # fmt: skip
    with running(source):
        wait_for(lambda: not source.running)

    assert source.ended
    assert not source.connected
    assert source.frames_read == 10  # the decoder's delayed frames are flushed too
    assert slot.frames_in == 10
    assert slot.latest is not None
    assert grey_index(slot.latest.image) == 9
    assert [state for state, _ in state_log.calls] == [True, False]
    assert state_log.calls[1][1] is not None
    assert "End of file" in state_log.calls[1][1]


def test_invalid_url_is_refused_up_front() -> None:
    with pytest.raises(InvalidSourceUrl):
        StreamSource("ftp://cam/stream", FrameSlot(), name="bad")


def test_rtsp_source_reads_frames_of_the_stream_size(
    rtsp_server: RtspServer, state_log: StateLog
) -> None:
    slot = FrameSlot()
    url = rtsp_server.url.replace("rtsp://", "rtsp://admin:hunter2@")
    source = StreamSource(url, slot, name="rtsp", on_state=state_log, **FAST_RETRY)
    with running(source):
        seqs = frames_of(slot, 5)
        frame = slot.latest

    assert frame is not None
    assert frame.image.shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)
    # The served clip is a photo, not a blank or garbled picture.
    assert 40.0 < float(frame.image.mean()) < 220.0
    assert float(frame.image.std()) > 20.0
    assert seqs == sorted(seqs)
    assert source.frames_read >= 5
    assert source.safe_url == f"rtsp://***@{HOST}:{rtsp_server.port}/cam"
    assert state_log.calls == [(True, None)]


def test_rtsp_source_reconnects_after_the_server_returns(
    rtsp_server: RtspServer, state_log: StateLog
) -> None:
    slot = FrameSlot()
    source = StreamSource(
        rtsp_server.url, slot, name="rtsp", on_state=state_log, **FAST_RETRY
    )
    with running(source):
        frames_of(slot, 3)

        rtsp_server.stop()
        wait_for(lambda: state_log.count(False) == 1)
        assert not source.connected
        assert source.last_error is not None
        before = slot.frames_in

        rtsp_server.start()
        wait_for(lambda: state_log.count(True) == 2)
        frames_of(slot, 3)

    assert slot.frames_in > before
    assert source.connected is False  # stopped
    assert source.reconnects == 1
    assert [state for state, _ in state_log.calls] == [True, False, True]


def test_mjpeg_source_reconnects_after_the_server_returns(
    mjpeg_server: MjpegServer, state_log: StateLog
) -> None:
    slot = FrameSlot()
    source = StreamSource(
        mjpeg_server.url, slot, name="mjpeg", on_state=state_log, **FAST_RETRY
    )
    with running(source):
        frames_of(slot, 3)
        frame = slot.latest
        assert frame is not None
        assert frame.image.shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)

        mjpeg_server.stop()
        wait_for(lambda: state_log.count(False) == 1)
        before = slot.frames_in

        mjpeg_server.start()
        wait_for(lambda: state_log.count(True) == 2)
        frames_of(slot, 3)

    assert slot.frames_in > before
    assert source.reconnects == 1
    assert [state for state, _ in state_log.calls] == [True, False, True]


def test_unreachable_source_reports_redacted_error_and_stops_promptly(
    state_log: StateLog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.camera_alerts.camera")
    url = f"rtsp://admin:hunter2@{HOST}:{free_port()}/cam"
    source = StreamSource(
        url, FrameSlot(), name="down", on_state=state_log,
        reconnect_base=30.0, reconnect_max=60.0,
    )  # fmt: skip
    source.start()
    wait_for(lambda: state_log.count(False) == 1)

    # The reader now sleeps in a 30 s backoff; stop must cut it short.
    assert source.stop(timeout=WAIT_GUARD)
    assert not source.running
    assert source.last_error is not None
    assert "hunter2" not in source.last_error
    assert "***@" in source.last_error
    assert state_log.calls[0][0] is False
    assert "hunter2" not in (state_log.calls[0][1] or "")
    assert "hunter2" not in caplog.text
    assert "disconnected" in caplog.text


def test_stop_while_a_stream_stalls_during_open(state_log: StateLog) -> None:
    # A listener that never accepts: the TCP handshake succeeds, no RTSP reply comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind((HOST, 0))
        silent.listen(8)
        url = f"rtsp://{HOST}:{silent.getsockname()[1]}/cam"
        source = StreamSource(
            url, FrameSlot(), name="stalled", on_state=state_log,
            open_timeout=1.0, read_timeout=1.0,
        )  # fmt: skip
        source.start()
        assert source.stop()

        assert not source.running
        assert source.frames_read == 0


def test_backoff_grows_between_attempts(state_log: StateLog) -> None:
    attempts: list[float] = []
    slot = FrameSlot()
    source = StreamSource(
        f"http://{HOST}:{free_port()}/video.mjpg", slot, name="backoff",
        on_state=state_log, reconnect_base=0.05, reconnect_max=0.4,
    )  # fmt: skip
    original = source._stop.wait

    def recording_wait(timeout: float | None = None) -> bool:
        attempts.append(timeout or 0.0)
        return original(timeout)

    source._stop.wait = recording_wait  # type: ignore[method-assign]
    with running(source):
        wait_for(lambda: len(attempts) >= 5)

    assert attempts[:5] == [0.05, 0.1, 0.2, 0.4, 0.4]
    assert state_log.count(False) == 1


def test_file_that_appears_later_is_picked_up(
    clip: Path, tmp_path: Path, state_log: StateLog
) -> None:
    late = tmp_path / "late.mp4"
    slot = FrameSlot()
    source = StreamSource(
        str(late), slot, name="late", on_state=state_log, **FAST_RETRY
    )
    with running(source):
        wait_for(lambda: state_log.count(False) == 1)
        late.write_bytes(clip.read_bytes())
        frames_of(slot, 2)

    assert [state for state, _ in state_log.calls] == [False, True]
    assert source.reconnects == 0
