"""Fixtures for the frame source tests: real clips, a real RTSP and MJPEG server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
import threading
import time

import numpy as np
import pytest

from .media import MjpegServer, RtspServer, make_clip, static_scene

# A guard so a broken test fails instead of hanging; never asserted on.
WAIT_GUARD = 15.0
CLIP_SIZE = (320, 180)
CLIP_FPS = 10.0


@pytest.fixture(autouse=True)
def sockets(socket_enabled: None) -> None:
    """Every test here talks to servers on 127.0.0.1."""


def wait_for(condition: Callable[[], bool], guard: float = WAIT_GUARD) -> None:
    """Poll `condition` until it holds; fail the test after `guard` seconds."""
    deadline = time.monotonic() + guard
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached")
        time.sleep(0.02)


def counting_frames(
    n_frames: int, size: tuple[int, int] = CLIP_SIZE
) -> list[np.ndarray]:
    """Frames whose grey level tells their index (10, 30, 50, ...), to follow order."""
    width, height = size
    return [
        np.full((height, width, 3), 10 + 20 * index, np.uint8)
        for index in range(n_frames)
    ]


def grey_index(image: np.ndarray) -> int:
    """Invert `counting_frames`: the index a decoded frame was made from."""
    return round((float(image.mean()) - 10.0) / 20.0)


class StateLog:
    """Records on_state calls and the thread they came from."""

    def __init__(self) -> None:
        self.calls: list[tuple[bool, str | None]] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, connected: bool, error: str | None) -> None:
        with self._lock:
            self.calls.append((connected, error))
            self.threads.add(threading.current_thread().name)

    def count(self, connected: bool) -> int:
        with self._lock:
            return sum(1 for state, _ in self.calls if state is connected)


@pytest.fixture
def state_log() -> StateLog:
    return StateLog()


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s H.264 clip of a still photo, 320x180 at 10 fps."""
    path = tmp_path_factory.mktemp("clips") / "static.mp4"
    return make_clip(path, static_scene(CLIP_SIZE, 30), fps=CLIP_FPS, size=CLIP_SIZE)


@pytest.fixture
def rtsp_server(clip: Path) -> Iterator[RtspServer]:
    with RtspServer(clip) as server:
        yield server


@pytest.fixture
def mjpeg_server() -> Iterator[MjpegServer]:
    with MjpegServer(static_scene(CLIP_SIZE, 5), fps=CLIP_FPS) as server:
        yield server
