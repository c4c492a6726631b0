"""The remote backend against a real KServe model server (Open Inference Protocol v2 REST).

The server runs from `.venv-kserve` (`scripts/setup-kserve`) and hosts the bundled
ONNX model; detections must match the local ONNX Runtime backend on the shared photos.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import sys
import time

import cv2
import pytest

from custom_components.camera_alerts.inference import (
    RemoteServerError,
    UnsupportedModelError,
    load_detector,
    load_remote_detector,
)

from ..camera_sources.media import free_port
from ..kserve_server import MODEL, SERVER_PYTHON, kserve_server
from .compare import detection_iou

PHOTOS = sorted((Path(__file__).parent / "data").glob("*.jpg"))

pytestmark = pytest.mark.xdist_group("kserve")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """KServe's model server with the bundled model on 127.0.0.1."""
    with kserve_server(MODEL) as url:
        yield url


@pytest.fixture
def url(server: str, socket_enabled: None) -> str:
    """The server's URL, with sockets to 127.0.0.1 allowed for the test."""
    return server


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
            assert detection_iou(a, b) > 0.9
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
