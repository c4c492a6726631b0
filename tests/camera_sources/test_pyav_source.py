"""What only the PyAV capture backend (what HA OS and the HA container have) does.

The behaviour both backends share (looping, pacing, reconnects, redaction) runs
on each of them in `test_source.py`. Here every source and probe is forced onto
PyAV, and OpenCV's capture fails the test if anything reaches it.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import logging
from pathlib import Path

import av
import numpy as np
import pytest

from custom_components.camera_alerts.pipeline import source as source_module
from custom_components.camera_alerts.pipeline.source import (
    CaptureUnavailable,
    FrameSlot,
    InvalidSourceUrl,
    OpenCvSource,
    PyAvCapture,
    SourceUnreachable,
    StreamSource,
    probe_source,
    resolve_backend,
)

from .conftest import (
    CLIP_FPS,
    CLIP_SIZE,
    WAIT_GUARD,
    StateLog,
    wait_for,
)
from .media import HOST, MjpegServer, RtspServer, free_port, make_clip, read_clip

SECRET = "hunter2"


@pytest.fixture(autouse=True)
def opencv_capture_is_off_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if a test here ends up capturing through OpenCV."""

    def refuse(*args: object) -> None:
        raise AssertionError("OpenCV capture used in a PyAV test")

    monkeypatch.setattr(source_module.OpenCvCapture, "open", refuse)


@pytest.fixture
def libav_verbose() -> Iterator[None]:
    """Let PyAV forward every libav message to Python logging, as HA's stream debug mode does."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.VERBOSE)
    try:
        yield
    finally:
        av.logging.set_level(previous)


@contextlib.contextmanager
def running(source: StreamSource) -> Iterator[StreamSource]:
    source.start()
    try:
        yield source
    finally:
        assert source.stop()
        assert not source.running


def pyav_source(url: str, slot: FrameSlot, **kwargs: object) -> StreamSource:
    source = StreamSource(url, slot, backend="pyav", **kwargs)  # type: ignore[arg-type]
    assert source.backend == "pyav"
    return source


# --- backend choice -----------------------------------------------------------


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_backend("pyav") == "pyav"
    assert resolve_backend() == "opencv"  # OpenCV is installed in the test venv

    monkeypatch.setattr(source_module, "capture_backend", "pyav")
    assert resolve_backend() == "pyav"
    assert OpenCvSource("/tmp/x.mp4", FrameSlot(), name="x").backend == "pyav"
    monkeypatch.setattr(source_module, "capture_backend", None)

    # musl: no OpenCV wheel, PyAV from HA's stream dependency.
    monkeypatch.setattr(source_module, "HAVE_OPENCV", False)
    assert resolve_backend() == "pyav"
    assert StreamSource("/tmp/x.mp4", FrameSlot(), name="x").backend == "pyav"
    with pytest.raises(CaptureUnavailable, match="opencv"):
        resolve_backend("opencv")

    monkeypatch.setattr(source_module, "HAVE_PYAV", False)
    with pytest.raises(CaptureUnavailable, match="Neither OpenCV nor PyAV"):
        StreamSource("rtsp://cam/stream", FrameSlot(), name="none")
    with pytest.raises(CaptureUnavailable):
        probe_source("rtsp://cam/stream")
    # A bad URL is still the user's mistake, whatever is installed.
    with pytest.raises(InvalidSourceUrl):
        StreamSource("ftp://cam/stream", FrameSlot(), name="bad")

    with pytest.raises(ValueError, match="Unknown capture backend"):
        resolve_backend("gstreamer")  # type: ignore[arg-type]


# --- files --------------------------------------------------------------------


def test_pyav_decodes_a_file_exactly_as_opencv_does(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "person.mp4", "person", size=CLIP_SIZE, n_frames=30)
    reference = read_clip(clip)  # OpenCV's own decoder, outside the source module
    capture = PyAvCapture.open(str(clip), 5.0, 5.0)
    assert capture is not None
    try:
        frames = []
        while (image := capture.read()) is not None:
            frames.append(image)
        assert capture.fps() == pytest.approx(10.0)
    finally:
        capture.release()

    assert len(frames) == len(reference) == 30
    for ours, theirs in zip(frames, reference, strict=True):
        assert ours.shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)
        assert ours.dtype == np.uint8
        assert ours.flags["C_CONTIGUOUS"]
        # Same FFmpeg decoder and colour conversion: equal up to rounding.
        assert np.abs(ours.astype(np.int16) - theirs).mean() < 1.0


def test_damaged_file_is_read_to_its_end(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "person.mp4", "person", size=CLIP_SIZE, n_frames=30)
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(1)
    for offset in range(len(data) // 3, 2 * len(data) // 3, 997):
        data[offset : offset + 20] = rng.integers(0, 256, 20, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))

    slot = FrameSlot()
    source = pyav_source(
        str(damaged), slot, name="damaged", realtime_files=False, loop_files=False
    )
    with running(source):
        wait_for(lambda: not source.running)

    # Broken slices are concealed or skipped; the reader never dies on them.
    assert source.ended
    assert source.frames_read >= 20


def test_file_that_is_not_a_video_never_connects(
    tmp_path: Path, state_log: StateLog
) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    source = pyav_source(str(junk), FrameSlot(), name="junk", on_state=state_log)
    with running(source):
        wait_for(lambda: state_log.count(False) == 1)

    assert source.frames_read == 0
    assert state_log.calls == [(False, f"Cannot open {junk}")]


# --- streams ------------------------------------------------------------------


@pytest.mark.usefixtures("libav_verbose")
def test_dead_url_reports_redacted_error_and_nothing_from_libav(
    state_log: StateLog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"rtsp://admin:{SECRET}@{HOST}:{free_port()}/cam"
    source = pyav_source(
        url, FrameSlot(), name="down", on_state=state_log,
        reconnect_base=30.0, reconnect_max=60.0,
    )  # fmt: skip
    source.start()
    wait_for(lambda: state_log.count(False) == 1)

    # The reader now sleeps in a 30 s backoff; stop must cut it short.
    assert source.stop(timeout=WAIT_GUARD)
    assert source.last_error == f"Cannot open rtsp://***@{HOST}:{url.rsplit(':', 1)[1]}"
    assert state_log.calls == [(False, source.last_error)]
    assert SECRET not in caplog.text
    assert "disconnected" in caplog.text
    # libav reports the refused connection; with its logging on, that would
    # reach Home Assistant's log unless the reader captures it.
    assert [r.name for r in caplog.records if r.name.startswith("libav")] == []


# --- probe ----------------------------------------------------------------------


def test_probe_clip_file(clip: Path) -> None:
    result = probe_source(clip.as_uri(), backend="pyav")

    assert (result.width, result.height) == CLIP_SIZE
    assert result.fps == pytest.approx(CLIP_FPS)


def test_probe_rtsp(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url.replace("rtsp://", f"rtsp://user:{SECRET}@")
    result = probe_source(url, backend="pyav")

    assert (result.width, result.height) == CLIP_SIZE
    assert result.fps == pytest.approx(CLIP_FPS)


def test_probe_mjpeg(mjpeg_server: MjpegServer) -> None:
    result = probe_source(mjpeg_server.url, backend="pyav")

    assert (result.width, result.height) == CLIP_SIZE


@pytest.mark.usefixtures("libav_verbose")
@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_probe_closed_port_is_unreachable_and_redacted(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"{scheme}://admin:{SECRET}@{HOST}:{free_port()}/cam?password={SECRET}"

    with pytest.raises(SourceUnreachable) as err:
        probe_source(url, timeout=2.0, backend="pyav")

    assert SECRET not in str(err.value)
    assert f"{scheme}://***@{HOST}:" in str(err.value)
    assert err.value.__cause__ is None  # PyAV's error, which quotes the URL, is dropped
    assert err.value.__context__ is None
    assert SECRET not in caplog.text
    assert [r.name for r in caplog.records if r.name.startswith("libav")] == []


def test_probe_file_that_is_not_a_video_is_unreachable(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)

    with pytest.raises(SourceUnreachable):
        probe_source(str(junk), timeout=2.0, backend="pyav")
