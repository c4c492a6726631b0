"""Frame sources: read a camera in a thread and keep only its newest frame.

Nothing here touches Home Assistant. `StreamSource` (also known by its first
name, `OpenCvSource`) reads RTSP, HTTP (MJPEG) and local files through FFmpeg:
with OpenCV where it imports, which decodes fastest, and with PyAV otherwise.
PyAV is Home Assistant's own `stream` dependency, so it is there on HA OS and
in the HA container (musl), where PyPI has no OpenCV wheel. `FrameSlot` hands
the newest frame to a consumer thread, so a slow detector skips frames instead
of lagging. Images decode with Pillow where OpenCV is missing.
`CaptureUnavailable` is raised only where neither OpenCV nor PyAV imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass
from io import BytesIO
import logging
import os
import stat
import threading
import time
from typing import Final, Literal, Protocol, cast

import numpy as np
import numpy.typing as npt
from PIL import Image as PilImage, UnidentifiedImageError

try:
    import cv2

    HAVE_OPENCV = True
except ImportError:  # musl: no OpenCV wheel
    HAVE_OPENCV = False

try:
    import av
    import av.error
    import av.logging
    from av.video.stream import VideoStream

    HAVE_PYAV = True
except ImportError:  # a Python without Home Assistant's stream dependency
    HAVE_PYAV = False

from .url import InvalidUrlError, is_local_file, redact_url, source_target

_LOGGER = logging.getLogger(__name__)

type Image = npt.NDArray[np.uint8]
type StateCallback = Callable[[bool, str | None], None]
type CaptureBackend = Literal["opencv", "pyav"]

CAPTURE_BACKENDS: Final[tuple[CaptureBackend, ...]] = ("opencv", "pyav")
"""Every capture backend, in the order they are preferred."""

capture_backend: CaptureBackend | None = None
"""The backend used when a source or probe is not given one; None picks the
first of CAPTURE_BACKENDS that imports. Tests set it to run a backend."""

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
_PYAV_OPTIONS: Final[dict[str, str]] = {
    "rtsp_transport": "tcp",
    "analyzeduration": "1000000",
}
# A stream that sends only undecodable packets is as good as down; OpenCV gives
# up on its own after a similar run of errors.
_MAX_BAD_PACKETS: Final = 64


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
    """Stream URLs need OpenCV or PyAV, and neither can be imported here."""


def available_backends() -> tuple[CaptureBackend, ...]:
    """Return the capture backends that import on this system, preferred first."""
    found = {"opencv": HAVE_OPENCV, "pyav": HAVE_PYAV}
    return tuple(name for name in CAPTURE_BACKENDS if found[name])


def resolve_backend(backend: CaptureBackend | None = None) -> CaptureBackend:
    """Return the backend to capture with: `backend`, else `capture_backend`, else the best.

    Raises CaptureUnavailable when the one asked for (or, with no choice made,
    every one) cannot be imported, and ValueError for a name that is no backend.
    """
    wanted = backend if backend is not None else capture_backend
    available = available_backends()
    if wanted is None:
        if not available:
            raise CaptureUnavailable(
                "Neither OpenCV nor PyAV is installed, so stream URLs cannot be read here"
            )
        return available[0]
    if wanted not in CAPTURE_BACKENDS:
        raise ValueError(f"Unknown capture backend {wanted!r}")
    if wanted not in available:
        raise CaptureUnavailable(f"The {wanted} capture backend is not installed here")
    return wanted


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


class Capture(Protocol):
    """An open stream or file that decodes frames on demand (blocking)."""

    def read(self) -> Image | None:
        """Return the next BGR frame; None at the end or on any failure."""

    def fps(self) -> float | None:
        """Return the rate the source states, None when it states none usable."""

    def release(self) -> None:
        """Close the source; call it from the thread that reads."""


class OpenCvCapture:
    """A capture through OpenCV's FFmpeg backend."""

    def __init__(self, capture: cv2.VideoCapture) -> None:
        """Wrap an opened capture; use `open` to make one."""
        self._capture = capture

    @classmethod
    def open(
        cls, target: str, open_timeout: float, read_timeout: float
    ) -> OpenCvCapture | None:
        """Open `target` with bounded waits; None when it does not open."""
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
        return cls(capture)

    def read(self) -> Image | None:
        """Return the next frame, None at the end or on failure."""
        try:
            ok, image = self._capture.read()
        except cv2.error:
            return None
        if not ok or image is None:
            return None
        return cast(Image, image)

    def fps(self) -> float | None:
        """Return the stated frame rate when it is plausible."""
        return _usable_fps(float(self._capture.get(cv2.CAP_PROP_FPS)))

    def release(self) -> None:
        """Close the capture."""
        self._capture.release()


def _quiet_libav() -> av.logging.Capture:
    """Return a context that keeps libav's messages from this thread out of the log.

    PyAV forwards libav's messages to Python logging at a process-wide level
    that Home Assistant's `stream` sets (fatal only, everything while its debug
    logging is on), and they can quote a URL with its password. Capturing them
    per thread drops ours without overriding the level `stream` manages, as
    OPENCV_FFMPEG_LOGLEVEL does for OpenCV; our own log says what failed, redacted.
    """
    return av.logging.Capture(local=True)


class PyAvCapture:
    """A capture through PyAV, which Home Assistant ships where OpenCV has no wheel."""

    def __init__(
        self, container: av.container.InputContainer, stream: VideoStream
    ) -> None:
        """Wrap an opened container; use `open` to make one."""
        self._container = container
        self._stream = stream
        self._packets: Iterator[av.Packet] = container.demux(stream)
        self._pending: list[Image] = []

    @classmethod
    def open(
        cls, target: str, open_timeout: float, read_timeout: float
    ) -> PyAvCapture | None:
        """Open `target` with bounded waits; None when it does not open or has no video."""
        with _quiet_libav():
            try:
                container = av.open(
                    target,
                    options=dict(_PYAV_OPTIONS),
                    timeout=(open_timeout, read_timeout),
                )
            except (av.error.FFmpegError, OSError, ValueError):
                # The error's text holds the URL, credentials included: drop it.
                return None
            if not container.streams.video:
                container.close()
                return None
            stream = container.streams.video[0]
            # Frame and slice threads, as OpenCV uses: a 1080p H.264 stream is
            # too slow to decode on one core of a small host.
            stream.thread_type = "AUTO"
            return cls(container, stream)

    def read(self) -> Image | None:
        """Return the next frame, None at the end or on failure."""
        bad_packets = 0
        with _quiet_libav():
            while not self._pending:
                try:
                    packet = next(self._packets)
                except StopIteration:
                    return None
                except (av.error.FFmpegError, OSError, ValueError):
                    return None
                try:
                    frames = self._stream.decode(packet)
                except av.error.InvalidDataError:
                    # One broken packet (lost data on a camera's link) costs one
                    # frame, as with OpenCV; only a run of them ends the stream.
                    bad_packets += 1
                    if bad_packets > _MAX_BAD_PACKETS:
                        return None
                    continue
                except (av.error.FFmpegError, OSError, ValueError):
                    return None
                bad_packets = 0
                self._pending.extend(
                    np.ascontiguousarray(frame.to_ndarray(format="bgr24"))
                    for frame in frames
                )
        return self._pending.pop(0)

    def fps(self) -> float | None:
        """Return the stated frame rate when it is plausible."""
        for rate in (self._stream.average_rate, self._stream.guessed_rate):
            if rate:
                usable = _usable_fps(float(rate))
                if usable is not None:
                    return usable
        return None

    def release(self) -> None:
        """Close the container."""
        self._pending.clear()
        with _quiet_libav(), contextlib.suppress(av.error.FFmpegError, OSError):
            self._container.close()


def open_capture(
    target: str,
    open_timeout: float,
    read_timeout: float,
    backend: CaptureBackend | None = None,
) -> Capture | None:
    """Open `target` (a `source_target` result) with `backend`; None when it does not open.

    Raises CaptureUnavailable when the backend cannot be imported.
    """
    if resolve_backend(backend) == "opencv":
        return OpenCvCapture.open(target, open_timeout, read_timeout)
    return PyAvCapture.open(target, open_timeout, read_timeout)


def _usable_fps(value: float) -> float | None:
    return value if 0.0 < value <= _MAX_PLAUSIBLE_FPS else None


def probe_source(
    url: str, timeout: float = 10.0, *, backend: CaptureBackend | None = None
) -> ProbeResult:
    """Open `url`, read one frame and report its size and rate.

    Blocking: run it in an executor. Raises InvalidSourceUrl for URLs this
    integration cannot open, SourceUnreachable when no frame arrives and
    CaptureUnavailable when no capture backend (or not `backend`) imports.
    """
    try:
        target = source_target(url)
    except InvalidUrlError as err:
        raise InvalidSourceUrl(str(err)) from None
    capture = open_capture(target, timeout, timeout, resolve_backend(backend))
    if capture is None:
        raise SourceUnreachable(f"Cannot open {redact_url(url)}")
    try:
        image = capture.read()
        if image is None:
            raise SourceUnreachable(f"No frame from {redact_url(url)}")
        fps = capture.fps()
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
    except (
        UnidentifiedImageError,
        PilImage.DecompressionBombError,
        OSError,
        ValueError,
    ) as err:
        raise SourceError("Cannot decode image") from err
    if rgb.size == 0:
        raise SourceError("Cannot decode image")
    return np.ascontiguousarray(rgb[:, :, ::-1])


class StreamSource:
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
        backend: CaptureBackend | None = None,
    ) -> None:
        """Prepare the source; nothing is opened before `start()`.

        Raises InvalidSourceUrl for a URL this integration cannot open and
        CaptureUnavailable where no capture backend (or not `backend`) can be
        imported; a missing local file is not an error here, it is retried
        like a camera that is down.
        `read_timeout` also bounds how long `stop()` waits for a stalled stream.
        `backend` picks "opencv" or "pyav"; None takes `capture_backend`, else
        the first that imports (see `resolve_backend`).
        """
        try:
            self._target = source_target(url, must_exist=False)
        except InvalidUrlError as err:
            raise InvalidSourceUrl(str(err)) from None
        self.backend: CaptureBackend = resolve_backend(backend)
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

        The capture is released by the reader thread itself: neither OpenCV
        captures nor PyAV containers are safe to close while another thread is
        inside open() or read(), so
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
        capture = self._open()
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
                image = capture.read()
                if image is None:
                    if not (self._is_file and since_open):
                        break
                    if not self._loop_files:
                        self.ended = True
                        self._set_state(False, f"End of file {self.safe_url}")
                        return f"End of file {self.safe_url}", True
                    # Reopening is more robust than seeking to frame 0 across codecs.
                    capture.release()
                    reopened = self._open()
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

    def _open(self) -> Capture | None:
        return open_capture(
            self._target, self._open_timeout, self._read_timeout, self.backend
        )

    def _frame_interval(self, capture: Capture) -> float | None:
        """Return the pacing interval for files, None for live streams."""
        if not (self._is_file and self._realtime_files):
            return None
        return 1.0 / (capture.fps() or _FALLBACK_FILE_FPS)

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


OpenCvSource = StreamSource
"""The first name of `StreamSource`, from when it read through OpenCV only."""


# A file larger than this is no camera image; reading it would only use memory.
MAX_IMAGE_FILE_BYTES: Final = 64 * 1024 * 1024


class PathNotAllowed(Exception):
    """The file lies outside the folders it may be read from."""


def read_allowed_image(path: str, is_allowed: Callable[[str], bool]) -> Image | None:
    """Read an image file that `is_allowed` accepts (blocking); None when unreadable.

    The path is resolved once, that real path is checked, and the file opened
    is verified to be that same file: a link repointed between the check and
    the read cannot smuggle in another file. Only regular files are read (a
    pipe would block). Raises PathNotAllowed.
    """
    real = os.path.realpath(path)
    if not is_allowed(real):
        raise PathNotAllowed(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(real, flags)
    except OSError:
        return None
    try:
        if not _is_open_file(fd, real):
            raise PathNotAllowed(path)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_IMAGE_FILE_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_IMAGE_FILE_BYTES:
        return None
    try:
        return decode_image(data)
    except SourceError:
        return None


def _is_open_file(fd: int, real: str) -> bool:
    """Return True when `fd` is the file at the resolved path `real`."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == real
    except OSError:
        # No /proc (not Linux): the path must still name the opened file.
        try:
            named, opened = os.stat(real, follow_symlinks=False), os.fstat(fd)
        except OSError:
            return False
        return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
