"""Real test media: scenes from photos, H.264 clips, an RTSP and an MJPEG server.

Plain functions and classes (no pytest) so other test folders and the
benchmarks can import them:

    from tests.camera_sources.media import RtspServer, make_clip, person_enters
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
import contextlib
from http.server import BaseHTTPRequestHandler
import os
from pathlib import Path
import select
import socket
import socketserver
import subprocess
import threading
import time
from types import TracebackType
from typing import Self

import cv2
import numpy as np
import numpy.typing as npt

type Image = npt.NDArray[np.uint8]
type Size = tuple[int, int]
"""(width, height), the order OpenCV and ffmpeg use."""

DATA_DIR = Path(__file__).parent / "data"
BACKGROUND = DATA_DIR / "dog.jpg"
PERSON_CUTOUT = DATA_DIR / "person_cutout.png"
RTSP_SERVER_SCRIPT = Path(__file__).parent / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
FFMPEG = "/usr/bin/ffmpeg"
HOST = "127.0.0.1"

try:  # under pytest, sockets may be blocked; test servers need the real ones
    from pytest_socket import _true_socket as real_socket
except ImportError:  # benchmarks run without pytest
    real_socket = socket.socket
# Bounds every wait in these helpers so a broken setup fails instead of hanging.
START_GUARD = 15.0


# --- scenes -----------------------------------------------------------------


def background(size: Size, path: Path = BACKGROUND) -> Image:
    """Return the photo at `path` centre-cropped to the aspect of `size`, resized."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    width, height = size
    src_h, src_w = image.shape[:2]
    scale = max(width / src_w, height / src_h)
    crop_w, crop_h = round(width / scale), round(height / scale)
    x0, y0 = (src_w - crop_w) // 2, (src_h - crop_h) // 2
    crop = image[y0 : y0 + crop_h, x0 : x0 + crop_w]
    return np.ascontiguousarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))


def add_noise(image: Image, rng: np.random.Generator, sigma: float = 2.0) -> Image:
    """Return `image` with light Gaussian sensor noise."""
    noise = rng.normal(0.0, sigma, image.shape).astype(np.int16)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def static_scene(size: Size, n_frames: int = 50, *, seed: int = 0) -> Iterator[Image]:
    """Yield a still photo with fresh sensor noise in every frame."""
    rng = np.random.default_rng(seed)
    still = background(size)
    for _ in range(n_frames):
        yield add_noise(still, rng)


def person_cutout(height: int) -> tuple[Image, npt.NDArray[np.float32]]:
    """Return the person (BGR) scaled to `height` pixels and its 0..1 alpha mask."""
    rgba = cv2.imread(str(PERSON_CUTOUT), cv2.IMREAD_UNCHANGED)
    if rgba is None:
        raise FileNotFoundError(PERSON_CUTOUT)
    scale = height / rgba.shape[0]
    rgba = cv2.resize(rgba, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgba[:, :, :3]), rgba[:, :, 3].astype(
        np.float32
    ) / 255.0


def paste(
    frame: Image, sprite: Image, alpha: npt.NDArray[np.float32], x: int, y: int
) -> Image:
    """Alpha-blend `sprite` onto a copy of `frame` at (x, y), clipped to the frame."""
    out = frame.copy()
    height, width = frame.shape[:2]
    s_h, s_w = sprite.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + s_w, width), min(y + s_h, height)
    if x0 >= x1 or y0 >= y1:
        return out
    region = sprite[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    weight = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
    base = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = (region * weight + base * (1.0 - weight)).astype(np.uint8)
    return out


def person_positions(
    size: Size, n_frames: int
) -> list[tuple[int, int, int, int] | None]:
    """Return the person's box (x, y, w, h) in each frame of `person_enters`, None when out.

    The first third walks in from the left to the centre, the second third
    stands still, the last third walks out to the right.
    """
    width, height = size
    person_h = int(height * 0.6)
    sprite, _ = person_cutout(person_h)
    s_h, s_w = sprite.shape[:2]
    y = height - s_h - height // 20
    centre = (width - s_w) // 2
    third = max(1, n_frames // 3)
    boxes: list[tuple[int, int, int, int] | None] = []
    for index in range(n_frames):
        if index < third:
            x = round(-s_w + (centre + s_w) * (index + 1) / third)
        elif index < 2 * third:
            x = centre
        else:
            steps = max(1, n_frames - 2 * third)
            x = round(centre + (width - centre) * (index - 2 * third + 1) / steps)
        visible = x + s_w > 0 and x < width
        boxes.append((x, y, s_w, s_h) if visible else None)
    return boxes


def person_enters(size: Size, n_frames: int = 60, *, seed: int = 0) -> Iterator[Image]:
    """Yield a person walking in over a still background, standing, then leaving."""
    rng = np.random.default_rng(seed)
    still = background(size)
    sprite, alpha = person_cutout(int(size[1] * 0.6))
    for box in person_positions(size, n_frames):
        frame = still if box is None else paste(still, sprite, alpha, box[0], box[1])
        yield add_noise(frame, rng)


def lighting_change(
    size: Size, n_frames: int = 50, *, seed: int = 0
) -> Iterator[Image]:
    """Yield a still scene whose brightness ramps down to 40 % and back (a cloud, dusk)."""
    rng = np.random.default_rng(seed)
    still = background(size).astype(np.float32)
    half = max(1, n_frames // 2)
    for index in range(n_frames):
        depth = index / half if index < half else (n_frames - 1 - index) / half
        gain = 1.0 - 0.6 * min(1.0, depth)
        yield add_noise(np.clip(still * gain, 0, 255).astype(np.uint8), rng)


SCENES = {"static": static_scene, "person": person_enters, "lighting": lighting_change}


# --- clips ------------------------------------------------------------------


def make_clip(
    path: Path | str,
    frames: Iterable[Image] | str,
    *,
    fps: float = 10.0,
    size: Size = (640, 360),
    n_frames: int = 50,
    codec: str = "h264",
) -> Path:
    """Write `frames` (or the scene named "static", "person", "lighting") to a clip.

    codec "h264" pipes raw BGR into ffmpeg's libx264 (yuv420p, a key frame every
    second, no B-frames, so streams start fast); "mp4v" uses cv2.VideoWriter.
    Frames of another size are resized. `n_frames` only applies to named scenes.
    """
    path = Path(path)
    images = SCENES[frames](size, n_frames) if isinstance(frames, str) else frames
    if codec == "h264":
        _write_h264(path, images, fps, size)
    elif codec == "mp4v":
        _write_opencv(path, images, fps, size)
    else:
        raise ValueError(f"unknown codec {codec!r}")
    return path


def _fit(image: Image, size: Size) -> Image:
    if (image.shape[1], image.shape[0]) == size:
        return image
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def _write_h264(path: Path, images: Iterable[Image], fps: float, size: Size) -> None:
    width, height = size
    command = [
        FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", f"{fps}",
        "-i", "-",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-g", str(max(1, round(fps))), "-bf", "0",
        "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None
        try:
            for image in images:
                proc.stdin.write(_fit(image, size).tobytes())
        finally:
            proc.stdin.close()
        error = proc.stderr.read() if proc.stderr else b""
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed: {error.decode(errors='replace')}")


def _write_opencv(path: Path, images: Iterable[Image], fps: float, size: Size) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write {path}")
    try:
        for image in images:
            writer.write(_fit(image, size))
    finally:
        writer.release()


def read_clip(path: Path | str) -> list[Image]:
    """Decode every frame of a clip (for checks in tests)."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames: list[Image] = []
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return frames
            frames.append(image)
    finally:
        capture.release()


# --- servers ----------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Uses the real socket class, so it works whatever pytest-socket allows.
    """
    with real_socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_answers(port: int) -> bool:
    """Return True when something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


class RtspServer:
    """A GStreamer RTSP server subprocess looping an H.264 MP4 at `url`.

    `stop()` kills it (the camera goes away); `start()` brings it back on the
    same port. Use as a context manager so the process is always reaped.
    """

    def __init__(
        self, clip_path: Path | str, port: int | None = None, *, mount: str = "/cam"
    ) -> None:
        self.clip_path = Path(clip_path)
        self.port = port or free_port()
        self.mount = mount
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the stream URL."""
        return f"rtsp://{HOST}:{self.port}{self.mount}"

    @property
    def running(self) -> bool:
        """Return True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server and wait until it says it listens."""
        if self.running:
            return
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(RTSP_SERVER_SCRIPT), "--port", str(self.port),
             "--file", str(self.clip_path), "--mount", self.mount],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "GST_DEBUG": "0"},
        )  # fmt: skip
        self._proc = proc
        assert proc.stdout is not None
        deadline = time.monotonic() + START_GUARD
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline()
                if line.strip() == b"ready" and port_answers(self.port):
                    return
                if not line:
                    break
            if proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"RTSP server on port {self.port} did not start")

    def stop(self) -> None:
        """Kill the server at once, as a crashing camera would go."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _MjpegHandler(BaseHTTPRequestHandler):
    server: _MjpegHttpServer

    def do_GET(self) -> None:
        owner = self.server.owner
        self.send_response(200)
        self.send_header(
            "Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}"
        )
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        index = 0
        with contextlib.suppress(OSError):
            while not owner.stopping.is_set():
                jpeg = owner.jpegs[index % len(owner.jpegs)]
                self.wfile.write(
                    f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                self.wfile.flush()
                owner.frames_sent += 1
                index += 1
                owner.stopping.wait(owner.interval)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


_BOUNDARY = "frame"


class _MjpegHttpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, owner: MjpegServer) -> None:
        self.owner = owner
        super().__init__((HOST, owner.port), _MjpegHandler)


class MjpegServer:
    """An HTTP server streaming `frames` as multipart/x-mixed-replace JPEG, looping.

    `stop()` closes every connection and the listening socket; `start()` listens
    again on the same port. Use as a context manager.
    """

    def __init__(
        self, frames: Iterable[Image], *, fps: float = 10.0, port: int | None = None
    ) -> None:
        self.jpegs: Sequence[bytes] = [_jpeg(image) for image in frames]
        if not self.jpegs:
            raise ValueError("no frames")
        self.interval = 1.0 / fps
        self.port = port or free_port()
        self.frames_sent = 0
        self.stopping = threading.Event()
        self._server: _MjpegHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Return the stream URL."""
        return f"http://{HOST}:{self.port}/video.mjpg"

    def start(self) -> None:
        """Listen and serve in a thread."""
        if self._server is not None:
            return
        self.stopping.clear()
        self._server = _MjpegHttpServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"mjpeg-server-{self.port}",
        )  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, end every stream and join every thread."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(START_GUARD)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _jpeg(image: Image) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("cannot encode frame")
    return bytes(data.tobytes())
