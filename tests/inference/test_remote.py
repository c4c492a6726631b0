"""The remote backend against a real KServe model server (Open Inference Protocol v2 REST).

The server runs from `.venv-kserve` (`scripts/setup-kserve`) and hosts the bundled
ONNX model; detections must match the local ONNX Runtime backend on the shared photos.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import subprocess
import sys
import time
import urllib.error
import urllib.request

import cv2
import pytest
import pytest_socket

from custom_components.camera_alerts.inference import (
    DEFAULT_MODEL_PATH,
    Detection,
    RemoteServerError,
    UnsupportedModelError,
    load_detector,
    load_remote_detector,
)

from ..camera_sources.media import HOST, free_port

ROOT = Path(__file__).parents[2]
SERVER_PYTHON = ROOT / ".venv-kserve" / "bin" / "python"
LAUNCHER = ROOT / "scripts" / "kserve_onnx_server.py"
PHOTOS = sorted((Path(__file__).parent / "data").glob("*.jpg"))
MODEL = "nanodet"

pytestmark = pytest.mark.xdist_group("kserve")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Start KServe's model server with the bundled model on 127.0.0.1."""
    if not SERVER_PYTHON.exists():
        pytest.fail("no .venv-kserve: run scripts/setup-kserve (scripts/test does)")
    # Module scope runs before `socket_enabled`: pick the port with the real socket class.
    with pytest_socket._true_socket() as sock:
        sock.bind((HOST, 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [
            str(SERVER_PYTHON),
            str(LAUNCHER),
            str(DEFAULT_MODEL_PATH),
            "--model_name",
            MODEL,
            "--http_port",
            str(port),
            "--threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def url(server: str, socket_enabled: None) -> str:
    """The server's URL, once its model answers (a guard, never asserted on)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{server}/v2/models/{MODEL}/ready", timeout=2):
                return server
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                pytest.fail("KServe model server did not come up")
            time.sleep(0.2)


def _iou(a: Detection, b: Detection) -> float:
    ax2, ay2 = a.bbox["x"] + a.bbox["width"], a.bbox["y"] + a.bbox["height"]
    bx2, by2 = b.bbox["x"] + b.bbox["width"], b.bbox["y"] + b.bbox["height"]
    w = max(0.0, min(ax2, bx2) - max(a.bbox["x"], b.bbox["x"]))
    h = max(0.0, min(ay2, by2) - max(a.bbox["y"], b.bbox["y"]))
    inter = w * h
    union = (
        a.bbox["width"] * a.bbox["height"] + b.bbox["width"] * b.bbox["height"] - inter
    )
    return inter / union


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_same_detections_as_local(url: str, binary: bool) -> None:
    """The server's metadata picks the NanoDet adapter; detections match ONNX Runtime."""
    local = load_detector(None, score_threshold=0.3, intra_op_num_threads=1)
    remote = load_remote_detector(url, MODEL, score_threshold=0.3, binary=binary)
    assert remote.adapter_name == "nanodet"
    assert (local.engine, remote.engine) == ("onnxruntime", "remote")
    assert remote.input_size == (416, 416)
    assert len(remote.class_names) == 80
    assert len(PHOTOS) == 4
    matched = 0
    for photo in PHOTOS:
        frame = cv2.imread(str(photo))
        expected = local.detect(frame)
        got = remote.detect(frame)
        assert expected, photo.name
        assert [d.class_name for d in got] == [d.class_name for d in expected], (
            photo.name
        )
        for a, b in zip(got, expected, strict=True):
            assert abs(a.confidence - b.confidence) < 0.02
            assert _iou(a, b) > 0.9
            matched += 1
    assert matched >= 8


def test_unknown_model_is_a_clear_error(url: str) -> None:
    with pytest.raises(RemoteServerError, match=r"answered 404 for model 'yolo'"):
        load_remote_detector(url, "yolo")


def test_wrong_adapter_is_refused(url: str) -> None:
    with pytest.raises(UnsupportedModelError):
        load_remote_detector(url, MODEL, adapter="yolov8")


def test_unreachable_server_retries_then_fails(socket_enabled: None) -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(RemoteServerError, match="Cannot reach the inference server"):
        load_remote_detector(f"http://127.0.0.1:{port}", MODEL, timeout=1.0, retries=2)
    # Two retries with 0.2 s and 0.4 s backoff.
    assert time.monotonic() - started >= 0.6


def test_bad_urls_are_refused() -> None:
    with pytest.raises(RemoteServerError, match="Not an http"):
        load_remote_detector("ftp://127.0.0.1/", MODEL)
    with pytest.raises(RemoteServerError, match="no credentials"):
        load_remote_detector("http://user:secret@127.0.0.1:1/", MODEL)


def test_server_python_is_separate() -> None:
    """KServe is not importable in Home Assistant's environment (its pins clash)."""
    assert SERVER_PYTHON.exists()
    assert Path(sys.executable).parent != SERVER_PYTHON.parent
