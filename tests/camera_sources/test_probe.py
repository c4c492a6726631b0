"""probe_source and decode_image against real files, servers and closed ports."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from custom_components.camera_alerts.pipeline.source import (
    InvalidSourceUrl,
    SourceError,
    SourceUnreachable,
    decode_image,
    probe_source,
)

from .conftest import CLIP_FPS, CLIP_SIZE
from .media import DATA_DIR, MjpegServer, RtspServer, free_port


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        "ftp://cam/stream",
        "rtsp://",
        "relative.mp4",
        "/no/such/file.mp4",
    ],
)
def test_garbage_url_is_invalid(url: str) -> None:
    with pytest.raises(InvalidSourceUrl):
        probe_source(url, timeout=2.0)


def test_errors_share_a_base() -> None:
    assert issubclass(InvalidSourceUrl, SourceError)
    assert issubclass(SourceUnreachable, SourceError)


def test_closed_port_is_unreachable_and_redacted() -> None:
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/cam"

    with pytest.raises(SourceUnreachable) as err:
        probe_source(url, timeout=2.0)

    assert "hunter2" not in str(err.value)
    assert "***@127.0.0.1" in str(err.value)


def test_file_that_is_not_a_video_is_unreachable(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)

    with pytest.raises(SourceUnreachable):
        probe_source(str(junk), timeout=2.0)


def test_probe_clip_file(clip: Path) -> None:
    result = probe_source(clip.as_uri())

    assert (result.width, result.height) == CLIP_SIZE
    assert result.fps == pytest.approx(CLIP_FPS)


def test_probe_rtsp(rtsp_server: RtspServer) -> None:
    result = probe_source(rtsp_server.url.replace("rtsp://", "rtsp://user:pw@"))

    assert (result.width, result.height) == CLIP_SIZE
    assert result.fps == pytest.approx(CLIP_FPS)


def test_probe_mjpeg(mjpeg_server: MjpegServer) -> None:
    result = probe_source(mjpeg_server.url)

    assert (result.width, result.height) == CLIP_SIZE


def test_decode_real_jpeg() -> None:
    data = (DATA_DIR / "dog.jpg").read_bytes()

    image = decode_image(data)

    assert image.shape == (576, 768, 3)
    assert image.dtype.name == "uint8"
    assert (image == cv2.imread(str(DATA_DIR / "dog.jpg"))).all()


@pytest.mark.parametrize(
    "data", [b"", b"garbage bytes, not an image", b"\xff\xd8\xff\xe0" + b"\0" * 64]
)
def test_decode_garbage_raises(data: bytes) -> None:
    with pytest.raises(SourceError):
        decode_image(data)
