"""Boxes and JPEGs with Pillow, as the processor makes them where OpenCV is missing."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
import threading
from typing import cast

import cv2
import numpy as np
from PIL import Image
import pytest

from custom_components.camera_alerts.inference import Detection, Detector
from custom_components.camera_alerts.pipeline import (
    motion as motion_module,
    processor as processor_module,
)
from custom_components.camera_alerts.pipeline.processor import (
    CameraProcessor,
    ProcessorResult,
    ProcessorSettings,
    draw_detections,
    encode_jpeg,
)
from custom_components.camera_alerts.pipeline.source import Frame, FrameSlot

BOX_BGR = (0, 200, 255)
BOX = {"x": 40.0, "y": 60.0, "width": 100.0, "height": 120.0}
GREY = 90


def person(bbox: dict[str, float] = BOX) -> Detection:
    return Detection(0, "person", 0.87, dict(bbox))  # type: ignore[arg-type]


def grey_frame(width: int = 320, height: int = 240) -> np.ndarray:
    return np.full((height, width, 3), GREY, np.uint8)


def near(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - colour) <= tolerance))


def orange(rgb: np.ndarray) -> bool:
    """The box colour after JPEG's chroma smoothing; neither grey nor channel-swapped."""
    red, green, blue = (int(v) for v in rgb)
    return red >= 200 and 150 <= green <= 235 and blue <= 90


def test_pillow_draws_the_box_in_bgr() -> None:
    frame = grey_frame()
    drawn = draw_detections(frame, [person()], backend="pillow")

    assert drawn.shape == frame.shape
    assert drawn.dtype == np.uint8
    assert (frame == GREY).all()  # the frame itself is left alone
    x1, y1, x2, y2 = 40, 60, 140, 180
    # Two-pixel edges on all four sides, in the BGR order of the frame.
    for x, y in [
        (x1, 120),
        (x1 + 1, 120),
        (x2, 120),
        (x2 - 1, 120),
        (90, y1),
        (90, y2),
    ]:
        assert tuple(drawn[y, x]) == BOX_BGR, (x, y)
    assert tuple(drawn[120, x1 + 3]) == (GREY,) * 3  # inside the box: untouched
    assert tuple(drawn[120, x1 - 2]) == (GREY,) * 3  # outside too
    assert tuple(drawn[120, 90]) == (GREY,) * 3
    # The label sits above the box, in the box colour (anti-aliased text).
    label = drawn[y1 - 20 : y1 - 2, x1 : x1 + 90]
    coloured = np.all(np.abs(label.astype(int) - BOX_BGR) <= 10, axis=2)
    assert coloured.sum() >= 30


def test_pillow_and_opencv_draw_the_same_boxes() -> None:
    frame = grey_frame()
    detections = [
        person(),
        person({"x": 200.0, "y": 20.0, "width": 60.0, "height": 50.0}),
    ]
    ours = draw_detections(frame, detections, backend="pillow")
    theirs = draw_detections(frame, detections, backend="opencv")

    ours_box = np.all(ours == BOX_BGR, axis=2)
    theirs_box = np.all(theirs == BOX_BGR, axis=2)
    ys, xs = np.nonzero(ours_box)
    ys_cv, xs_cv = np.nonzero(theirs_box)
    # Same place, give or take the line width (OpenCV centres it on the edge).
    assert abs(int(xs.min()) - int(xs_cv.min())) <= 1
    assert abs(int(xs.max()) - int(xs_cv.max())) <= 1
    assert abs(int(ys.max()) - int(ys_cv.max())) <= 1


def test_pillow_jpeg_is_valid_with_the_box_in_the_right_colour() -> None:
    drawn = draw_detections(grey_frame(), [person()], backend="pillow")
    data = encode_jpeg(drawn, backend="pillow")

    assert data is not None
    assert data[:3] == b"\xff\xd8\xff"  # a JPEG
    with Image.open(BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert image.size == (320, 240)
        rgb = np.asarray(image.convert("RGB"))
    # A decoder that knows nothing of BGR sees orange: Pillow got RGB.
    assert orange(rgb[120, 40])
    assert near(rgb[120, 90], (GREY,) * 3, 6)
    # OpenCV's decoder agrees (BGR), and so does OpenCV's own encoder.
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    reference = cv2.imdecode(
        np.frombuffer(encode_jpeg(drawn, backend="opencv") or b"", np.uint8),
        cv2.IMREAD_COLOR,
    )
    assert orange(decoded[120, 40][::-1])
    assert np.abs(decoded.astype(int) - reference).mean() < 3.0


def test_jpeg_quality_is_85() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    data = encode_jpeg(noisy, backend="pillow")
    assert data is not None
    with Image.open(BytesIO(data)) as image:
        ours = image.quantization
    reference = BytesIO()
    Image.fromarray(noisy).save(reference, format="JPEG", quality=85)
    with Image.open(reference) as image:
        assert ours == image.quantization


def test_grey_and_bgra_frames() -> None:
    grey = np.full((100, 100), 50, np.uint8)
    drawn = draw_detections(
        grey, [person({"x": 10, "y": 20, "width": 30, "height": 30})], backend="pillow"
    )
    assert drawn.shape == grey.shape
    assert drawn[30, 10] == BOX_BGR[0]
    data = encode_jpeg(drawn, backend="pillow")
    assert data is not None
    with Image.open(BytesIO(data)) as image:
        assert image.mode == "L"

    bgra = np.zeros((10, 10, 4), np.uint8)
    bgra[:, :, 2] = 255  # red
    bgra[:, :, 3] = 255
    data = encode_jpeg(bgra, backend="pillow")
    assert data is not None
    with Image.open(BytesIO(data)) as image:
        assert near(np.asarray(image.convert("RGB"))[5, 5], (255, 0, 0), 10)


def test_unknown_or_missing_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="Unknown image backend"):
        encode_jpeg(grey_frame(), backend="tiff")  # type: ignore[arg-type]
    monkeypatch.setattr(processor_module, "HAVE_OPENCV", False)
    with pytest.raises(ValueError, match="needs OpenCV"):
        draw_detections(grey_frame(), [], backend="opencv")


class OnePerson:
    """A detector that always sees the same person."""

    input_size = (320, 320)

    def detect(
        self, image: np.ndarray, region: tuple[float, float, float, float] | None = None
    ) -> list[Detection]:
        return [person()]


def test_processor_without_opencv_serves_and_saves_jpegs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(processor_module, "HAVE_OPENCV", False)
    monkeypatch.setattr(motion_module, "HAVE_OPENCV", False)
    results: list[ProcessorResult] = []
    processor = CameraProcessor(
        "porch",
        FrameSlot(),
        cast(Detector, OnePerson()),
        ProcessorSettings(fps=5.0, labels=("person",), snapshot_dir=tmp_path),
        results.append,
        threading.Semaphore(1),
    )
    assert processor.annotated_jpeg() is None

    assert processor._motion.backend == "numpy"
    # The first frame becomes the motion background; a dark square then moves,
    # which runs the detector; its second sighting confirms the track.
    events = []
    for seq in range(1, 5):
        frame = grey_frame()
        if seq > 1:
            frame[100:140, 150 + 20 * seq : 190 + 20 * seq] = 20
        result = processor.process(Frame(image=frame, seq=seq, captured_at=0.0))
        events.extend(result.events)
    assert result.motion
    assert result.detected

    jpeg = processor.annotated_jpeg()
    assert jpeg is not None
    with Image.open(BytesIO(jpeg)) as image:
        rgb = np.asarray(image.convert("RGB"))
    assert orange(rgb[120, 40])
    assert near(rgb[120, 90], (GREY,) * 3, 6)

    [event] = [event for event in events if event.type == "new"]
    assert event.type == "new"
    assert event.snapshot is not None
    snapshot = Path(event.snapshot)
    assert snapshot.parent == tmp_path
    with Image.open(snapshot) as image:
        assert image.format == "JPEG"
        saved = np.asarray(image.convert("RGB"))
    assert orange(saved[120, 40])
