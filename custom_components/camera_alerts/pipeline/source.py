"""Frame sources: read a camera in a thread and keep only its newest frame.

Nothing here touches Home Assistant. `OpenCvSource` reads RTSP, HTTP (MJPEG)
and local files with OpenCV's FFmpeg backend; `FrameSlot` hands the newest
frame to a consumer thread, so a slow detector skips frames instead of lagging.
Where OpenCV is missing (musl: HA OS, the HA container) images still decode
with Pillow; stream URLs raise `CaptureUnavailable` (a camera entity works).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
import logging
import os
from pathlib import Path
import threading
import time
from typing import Final, cast

import numpy as np
import numpy.typing as npt
from PIL import Image as PilImage, UnidentifiedImageError

try:
    import cv2

    HAVE_OPENCV = True
except ImportError:  # musl: no OpenCV wheel
    HAVE_OPENCV = False

from .url import InvalidUrlError, is_local_file, redact_url, source_target

_LOGGER = logging.getLogger(__name__)

type Image = npt.NDArray[np.uint8]
type StateCallback = Callable[[bool, str | None], None]

# Files whose container reports no usable rate are paced at this rate.
_FALLBACK_FILE_FPS: Final = 25.0
# A stream's reported rate above this is a time base, not a frame rate.
_MAX_PLAUSIBLE_FPS: Final = 240.0
# When a paced file falls this far behind (slow disk, suspended host), the
# schedule restarts instead of bursting frames to catch up.
_MAX_PACING_LAG: Final = 1.0


# FFmpeg options for every capture. RTSP over TCP: UDP loses packets behind NAT
# and on Wi-Fi, which shows up as smeared frames. A 1 s analysis window: the
# default (5 s, 20 frames to measure the rate) delays every (re)connection by
# seconds on a low-frame-rate camera and only buffers frames that are then stale.
_CAPTURE_OPTIONS: Final = "rtsp_transport;tcp|analyzeduration;1000000"


# FFmpeg's own messages go straight to stderr, past Home Assistant's logger, and
# may quote the URL with its password; only fatal ones are kept. Our log says
# what failed, redacted.
_FFMPEG_LOG_LEVEL_FATAL: Final = "8"


def _set_capture_options() -> None:
    """Hand our FFmpeg settings to OpenCV, which reads them when it opens a capture.

    Values the user set in the environment win.
    """
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", _CAPTURE_OPTIONS)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", _FFMPEG_LOG_LEVEL_FATAL)


_set_capture_options()


class SourceError(Exception):
    """A camera source cannot be used; the message never holds credentials."""


class InvalidSourceUrl(SourceError):
    """The URL is not one this integration can open (a user mistake)."""


class SourceUnreachable(SourceError):
    """The URL looks right but no frame could be read from it."""


class CaptureUnavailable(SourceError):
    """Stream URLs need OpenCV, which cannot be imported on this system."""


def _require_opencv() -> None:
    if not HAVE_OPENCV:
        raise CaptureUnavailable(
            "OpenCV is not installed, so stream URLs cannot be read here"
        )


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded BGR image with its place in the stream."""

    image: Image
    seq: int
    captured_at: float
    """time.monotonic() when the frame was handed to the slot."""


class FrameSlot:
    """Thread-safe holder of the newest frame only.

    The producer overwrites; consumers ask for "anything newer than what I had".
    A consumer slower than the camera therefore skips frames and never works on
    a stale backlog.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken = True
        self._closed = False
        self.frames_in = 0
        self.frames_skipped = 0
        """Frames overwritten before any consumer took them."""

    @property
    def closed(self) -> bool:
        """Return True once `close()` was called."""
        return self._closed

    @property
    def latest(self) -> Frame | None:
        """Return the newest frame without waiting (None before the first)."""
        with self._cond:
            return self._frame

    def put(self, image: Image) -> Frame | None:
        """Store `image` as the newest frame and wake waiting consumers.

        Returns the stored frame, or None when the slot is closed.
        """
        with self._cond:
            if self._closed:
                return None
            if not self._taken:
                self.frames_skipped += 1
            self.frames_in += 1
            frame = Frame(image=image, seq=self.frames_in, captured_at=time.monotonic())
            self._frame = frame
            self._taken = False
            self._cond.notify_all()
            return frame

    def get_newer(self, after_seq: int, timeout: float | None) -> Frame | None:
        """Return the newest frame with seq > after_seq, waiting up to `timeout`.

        Returns None on timeout or when the slot is closed. Pass 0 for "any frame".
        """
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._closed
                or (self._frame is not None and self._frame.seq > after_seq),
                timeout,
            ):
                return None
            if self._closed or self._frame is None:
                return None
            self._taken = True
            return self._frame

    def close(self) -> None:
        """Wake every waiter; later puts are ignored and gets return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a camera delivers, as found by `probe_source`."""

    width: int
    height: int
    fps: float | None
    """None when the stream does not state a usable frame rate."""


@dataclass(frozen=True, slots=True)
class SourceStats:
    """A snapshot of a source's health, safe to show (the URL is redacted)."""

    name: str
    url: str
    running: bool
    connected: bool
    ended: bool
    frames_read: int
    reconnects: int
    last_error: str | None


def _open_capture(
    target: str, open_timeout: float, read_timeout: float
) -> cv2.VideoCapture | None:
    """Open `target` with FFmpeg and bounded waits; None when it does not open."""
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        max(1, int(open_timeout * 1000)),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        max(1, int(read_timeout * 1000)),
    ]
    try:
        capture = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
    except cv2.error:
        # OpenCV's message can quote the URL, credentials included: drop it.
        return None
    if not capture.isOpened():
        capture.release()
        return None
    return capture


def _read(capture: cv2.VideoCapture) -> Image | None:
    try:
        ok, image = capture.read()
    except cv2.error:
        return None
    if not ok or image is None:
        return None
    return cast(Image, image)


def _usable_fps(value: float) -> float | None:
    return value if 0.0 < value <= _MAX_PLAUSIBLE_FPS else None


def probe_source(url: str, timeout: float = 10.0) -> ProbeResult:
    """Open `url`, read one frame and report its size and rate.

    Blocking: run it in an executor. Raises InvalidSourceUrl for URLs this
    integration cannot open and SourceUnreachable when no frame arrives.
    """
    try:
        target = source_target(url)
    except InvalidUrlError as err:
        raise InvalidSourceUrl(str(err)) from None
    _require_opencv()
    capture = _open_capture(target, timeout, timeout)
    if capture is None:
        raise SourceUnreachable(f"Cannot open {redact_url(url)}")
    try:
        image = _read(capture)
        if image is None:
            raise SourceUnreachable(f"No frame from {redact_url(url)}")
        fps = _usable_fps(float(capture.get(cv2.CAP_PROP_FPS)))
    finally:
        capture.release()
    height, width = image.shape[:2]
    return ProbeResult(width=int(width), height=int(height), fps=fps)


def decode_image(data: bytes) -> Image:
    """Decode JPEG/PNG bytes (e.g. a camera entity snapshot) into a BGR image."""
    if not data:
        raise SourceError("Empty image")
    if not HAVE_OPENCV:
        return _decode_with_pillow(data)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as err:
        raise SourceError("Cannot decode image") from err
    if image is None or image.size == 0:
        raise SourceError("Cannot decode image")
    return cast(Image, image)


def _decode_with_pillow(data: bytes) -> Image:
    try:
        with PilImage.open(BytesIO(data)) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise SourceError("Cannot decode image") from err
    if rgb.size == 0:
        raise SourceError("Cannot decode image")
    return np.ascontiguousarray(rgb[:, :, ::-1])


class OpenCvSource:
    """Read a camera in a thread into a FrameSlot, reconnecting with backoff.

    `on_state(connected, error)` is called from the reader thread whenever the
    connection state changes (and on the first failure): hand it to the event
    loop thread-safely. `error` is redacted. Local files are paced at their own
    frame rate so they behave like a live camera, and loop at the end unless
    `loop_files` is False, in which case the source ends (`ended` is True).
    """

    def __init__(
        self,
        url: str,
        slot: FrameSlot,
        *,
        name: str,
        on_state: StateCallback | None = None,
        reconnect_base: float = 1.0,
        reconnect_max: float = 30.0,
        open_timeout: float = 10.0,
        read_timeout: float = 5.0,
        realtime_files: bool = True,
        loop_files: bool = True,
    ) -> None:
        """Prepare the source; nothing is opened before `start()`.

        Raises InvalidSourceUrl for a URL this integration cannot open and
        CaptureUnavailable where OpenCV is missing; a
        missing local file is not an error here, it is retried like a camera
        that is down.
        `read_timeout` also bounds how long `stop()` waits for a stalled stream.
        """
        try:
            self._target = source_target(url, must_exist=False)
        except InvalidUrlError as err:
            raise InvalidSourceUrl(str(err)) from None
        _require_opencv()
        self._slot = slot
        self.name = name
        self.safe_url = redact_url(url)
        self._on_state = on_state
        self._reconnect_base = reconnect_base
        self._reconnect_max = reconnect_max
        self._open_timeout = open_timeout
        self._read_timeout = read_timeout
        self._is_file = is_local_file(self._target)
        self._realtime_files = realtime_files
        self._loop_files = loop_files
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported: bool | None = None
        self._has_connected = False
        self.connected = False
        self.ended = False
        self.frames_read = 0
        self.reconnects = 0
        """Successful connections after the first one."""
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        """Return True while the reader thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> SourceStats:
        """Return the current counters and state."""
        return SourceStats(
            name=self.name,
            url=self.safe_url,
            running=self.running,
            connected=self.connected,
            ended=self.ended,
            frames_read=self.frames_read,
            reconnects=self.reconnects,
            last_error=self.last_error,
        )

    def start(self) -> None:
        """Start the reader thread."""
        if self.running:
            raise RuntimeError(f"Source {self.name} is already running")
        self._stop.clear()
        self.ended = False
        self._thread = threading.Thread(
            target=self._run, name=f"camera_alerts_source_{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the reader and join it; return True when the thread has ended.

        The capture is released by the reader thread itself: OpenCV captures are
        not safe to release while another thread is inside open() or read(), so
        the default wait covers the longer of the open and read timeouts (a
        stalled stream) plus a margin.
        """
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        if timeout is None:
            timeout = max(self._open_timeout, self._read_timeout) + 2.0
        thread.join(timeout)
        if thread.is_alive():
            _LOGGER.warning("Camera %s: reader did not stop in time", self.name)
            return False
        self._thread = None
        return True

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            error, delivered = self._stream_once()
            if self._stop.is_set() or self.ended:
                break
            if delivered:
                failures = 0
            self._set_state(False, error)
            delay = min(self._reconnect_max, self._reconnect_base * 2**failures)
            failures += 1
            _LOGGER.debug("Camera %s: retrying in %.1f s", self.name, delay)
            if self._stop.wait(delay):
                break
        self.connected = False

    def _stream_once(self) -> tuple[str, bool]:
        """Open the source and pump frames until it fails or we are stopped.

        Returns the error that ended this connection and whether any frame was
        delivered on it.
        """
        capture = _open_capture(self._target, self._open_timeout, self._read_timeout)
        if capture is None:
            return f"Cannot open {self.safe_url}", False
        delivered = False
        # Frames since the last (re)open: a file that ends before its first
        # frame is broken, and looping on it would spin without a pause.
        since_open = 0
        try:
            interval = self._frame_interval(capture)
            due = time.monotonic()
            while not self._stop.is_set():
                image = _read(capture)
                if image is None:
                    if not (self._is_file and since_open):
                        break
                    if not self._loop_files:
                        self.ended = True
                        self._set_state(False, f"End of file {self.safe_url}")
                        return f"End of file {self.safe_url}", True
                    # Reopening is more robust than seeking to frame 0 across codecs.
                    capture.release()
                    reopened = _open_capture(
                        self._target, self._open_timeout, self._read_timeout
                    )
                    if reopened is None:
                        return f"Cannot reopen {self.safe_url}", True
                    capture = reopened
                    since_open = 0
                    continue
                if interval is not None:
                    due = self._pace(due, interval)
                    if self._stop.is_set():
                        break
                self._slot.put(image)
                self.frames_read += 1
                since_open += 1
                if not delivered:
                    delivered = True
                    self._on_connected()
        finally:
            capture.release()
        if delivered:
            return f"Stream stopped sending frames: {self.safe_url}", True
        return f"No frame from {self.safe_url}", False

    def _frame_interval(self, capture: cv2.VideoCapture) -> float | None:
        """Return the pacing interval for files, None for live streams."""
        if not (self._is_file and self._realtime_files):
            return None
        fps = _usable_fps(float(capture.get(cv2.CAP_PROP_FPS))) or _FALLBACK_FILE_FPS
        return 1.0 / fps

    def _pace(self, due: float, interval: float) -> float:
        """Wait until `due` (or stop); return when the next frame is due."""
        delay = due - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        elif delay < -_MAX_PACING_LAG:
            due = time.monotonic()
        return due + interval

    def _on_connected(self) -> None:
        if self._has_connected:
            self.reconnects += 1
        self._has_connected = True
        self._set_state(True, None)

    def _set_state(self, connected: bool, error: str | None) -> None:
        self.connected = connected
        if error is not None:
            self.last_error = error
        if self._reported == connected:
            _LOGGER.debug("Camera %s: %s", self.name, error)
            return
        self._reported = connected
        if connected:
            _LOGGER.info("Camera %s connected (%s)", self.name, self.safe_url)
        else:
            _LOGGER.warning("Camera %s disconnected: %s", self.name, error)
        if self._on_state is None:
            return
        try:
            self._on_state(connected, error)
        except Exception:
            # A faulty listener must not kill the reader thread.
            _LOGGER.exception("Camera %s: state listener failed", self.name)


def read_image(path: str) -> Image | None:
    """Read an image file (blocking); None when it is missing or not an image."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    try:
        return decode_image(data)
    except SourceError:
        return None
