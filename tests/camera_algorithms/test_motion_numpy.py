"""The numpy motion gate (no OpenCV: HA OS, the HA container) against the OpenCV one.

OpenCV is installed in the test venv, so it serves as the reference: the same
real H.264 clips go through both gates, and each numpy step is checked against
the OpenCV call it replaces.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from custom_components.camera_alerts.pipeline import motion as motion_module
from custom_components.camera_alerts.pipeline.motion import (
    MotionBox,
    MotionGate,
    area_grey,
    connected_regions,
    dilate,
)
from tests.camera_sources.media import make_clip, person_positions, read_clip

SIZE = (640, 360)
N_FRAMES = 60

type Box = tuple[int, int, int, int]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[np.ndarray]]:
    """The static, person and lighting scenes, encoded to H.264 and decoded back."""
    folder = tmp_path_factory.mktemp("motion_clips")
    return {
        name: read_clip(
            make_clip(Path(folder) / f"{name}.mp4", name, size=SIZE, n_frames=N_FRAMES)
        )
        for name in ("static", "person", "lighting")
    }


def run(frames: list[np.ndarray], backend: str) -> list[list[MotionBox]]:
    gate = MotionGate(backend=backend)  # type: ignore[arg-type]
    assert gate.backend == backend
    return [gate.update(frame) for frame in frames]


def union(boxes: list[MotionBox]) -> Box:
    x1 = min(b.x for b in boxes)
    y1 = min(b.y for b in boxes)
    x2 = max(b.x + b.width for b in boxes)
    y2 = max(b.y + b.height for b in boxes)
    return x1, y1, x2, y2


def iou(a: Box, b: Box) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area_a + area_b - inter)


# --- the whole gate on real clips ---------------------------------------------


def test_static_clip_has_no_motion(clips: dict[str, list[np.ndarray]]) -> None:
    gate = MotionGate(backend="numpy")
    moving = sum(bool(gate.update(frame)) for frame in clips["static"])

    assert moving == 0
    assert gate.changed_fraction < 0.01


def test_person_boxes_match_opencv(clips: dict[str, list[np.ndarray]]) -> None:
    frames = clips["person"]
    ours = run(frames, "numpy")
    reference = run(frames, "opencv")

    flags = [bool(boxes) for boxes in ours]
    assert flags == [bool(boxes) for boxes in reference]
    assert sum(flags) >= N_FRAMES // 2
    overlaps = [
        iou(union(a), union(b)) for a, b in zip(ours, reference, strict=True) if a
    ]
    assert min(overlaps) >= 0.9, overlaps


def test_person_is_covered_by_the_motion(clips: dict[str, list[np.ndarray]]) -> None:
    ours = run(clips["person"], "numpy")
    coverage = []
    positions = person_positions(SIZE, N_FRAMES)
    # The first frame becomes the background, whatever it shows.
    for boxes, person in zip(ours[1:], positions[1:], strict=True):
        if person is None:
            continue
        x, y, w, h = person
        px1, py1, px2, py2 = max(x, 0), y, min(x + w, SIZE[0]), y + h
        assert boxes
        ux1, uy1, ux2, uy2 = union(boxes)
        inter = max(0, min(ux2, px2) - max(ux1, px1)) * max(
            0, min(uy2, py2) - max(uy1, py1)
        )
        coverage.append(inter / ((px2 - px1) * (py2 - py1)))
        if x >= 0 and x + w <= SIZE[0]:
            assert uy1 <= py1 + 12  # the head is inside
            assert ux2 >= px2 - 12  # so is the side facing the way they walk
    # The cutout's box also holds its transparent feet margin, never moving.
    assert min(coverage) >= 0.55
    assert float(np.mean(coverage)) >= 0.75


def test_lighting_change_is_not_motion(clips: dict[str, list[np.ndarray]]) -> None:
    frames = clips["lighting"]
    ours = run(frames, "numpy")
    reference = run(frames, "opencv")

    assert sum(bool(b) for b in ours) <= 2
    assert sum(bool(b) for b in ours) == sum(bool(b) for b in reference)


def test_sudden_lighting_change_resets_the_background(
    clips: dict[str, list[np.ndarray]],
) -> None:
    gate = MotionGate(backend="numpy")
    still = clips["static"]
    for frame in still[:5]:
        gate.update(frame)
    brighter = [
        np.clip(f.astype(np.int16) + 70, 0, 255).astype(np.uint8) for f in still
    ]

    assert gate.update(brighter[5]) == []
    assert gate.calibrating
    assert gate.changed_fraction >= gate.lightning_threshold
    assert all(gate.update(frame) == [] for frame in brighter[6:20])
    assert not gate.calibrating
    assert gate.changed_fraction < 0.01


def test_mask_hides_the_person(clips: dict[str, list[np.ndarray]]) -> None:
    everything = [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]
    left_half = [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]
    frames = clips["person"]
    hidden = MotionGate(mask=everything, backend="numpy")
    half = MotionGate(mask=left_half, backend="numpy")
    reference = MotionGate(mask=left_half, backend="opencv")

    assert not any(hidden.update(frame) for frame in frames)
    for frame in frames:
        ours, theirs = half.update(frame), reference.update(frame)
        assert bool(ours) == bool(theirs)
        assert all(box.x + box.width > SIZE[0] // 2 - 12 for box in ours)
        assert all(box.x >= SIZE[0] // 2 - 12 for box in ours)


# --- each step against the OpenCV call it replaces ------------------------------


@pytest.mark.parametrize(
    ("size", "frame_height"),
    [((1280, 720), 120), ((640, 360), 120), ((1920, 1080), 120), ((640, 480), 90)],
)
def test_area_grey_matches_opencv(size: tuple[int, int], frame_height: int) -> None:
    rng = np.random.default_rng(2)
    width, height = size
    # Smooth content plus noise, like a camera picture.
    coarse = rng.integers(0, 256, (height // 40, width // 40, 3), dtype=np.uint8)
    frame = cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC)
    frame = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)
    ours_gate = MotionGate(backend="numpy", frame_height=frame_height)
    theirs_gate = MotionGate(backend="opencv", frame_height=frame_height)
    ours_gate.update(frame)
    theirs_gate.update(frame)

    ours = area_grey(frame, ours_gate._scale, ours_gate._small_size)
    theirs = theirs_gate._small_grey(frame)

    assert (
        ours.shape
        == theirs.shape
        == (ours_gate._small_size[1], ours_gate._small_size[0])
    )
    assert ours.dtype == np.uint8
    if width % ours_gate._scale == 0:
        # Same block means; only the grey conversion's rounding order differs.
        assert np.abs(ours.astype(np.int16) - theirs).max() <= 1
    else:
        # OpenCV spreads a fractional factor over the row; we cut the last pixels.
        assert np.abs(ours.astype(np.int16) - theirs).mean() < 2.0


def test_area_grey_of_grey_and_uneven_frames() -> None:
    grey = np.arange(7 * 10, dtype=np.uint8).reshape(7, 10) * 3
    assert area_grey(grey, 1, (10, 7)).tolist() == grey.tolist()
    halves = area_grey(grey, 2, (5, 4))  # one row short: the last is repeated
    assert halves.shape == (4, 5)
    assert halves[0, 0] == round(grey[0:2, 0:2].mean())
    assert halves[3, 4] == round(grey[6, 8:10].mean())
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[:, :, 2] = 200  # red; alpha is ignored
    bgra[:, :, 3] = 255
    assert area_grey(bgra, 2, (2, 2)).tolist() == [[60, 60], [60, 60]]


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_dilate_matches_opencv(iterations: int) -> None:
    rng = np.random.default_rng(iterations)
    mask = rng.random((120, 213)) < 0.01
    mask[0, 0] = mask[-1, -1] = mask[0, -1] = True  # corners: nothing wraps round

    ours = dilate(mask, iterations)
    theirs = cv2.dilate(
        mask.astype(np.uint8) * 255, np.ones((3, 3), np.uint8), iterations=iterations
    )

    assert np.array_equal(ours, theirs > 0)
    assert dilate(mask, 0) is mask


@pytest.mark.parametrize("density", [0.005, 0.02, 0.1, 0.4])
def test_connected_regions_match_opencv_components(density: float) -> None:
    rng = np.random.default_rng(int(density * 1000))
    mask = rng.random((120, 213)) < density

    ours = sorted((x, y, w, h) for x, y, w, h, _ in connected_regions(mask))
    count, _, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    theirs = sorted(tuple(int(v) for v in stats[i, :4]) for i in range(1, count))

    assert len(ours) == count - 1
    assert ours == theirs


def test_connected_regions_of_empty_and_full_maps() -> None:
    assert connected_regions(np.zeros((10, 10), bool)) == []
    assert connected_regions(np.ones((10, 12), bool)) == [(0, 0, 12, 10, 99.0)]


@pytest.mark.parametrize(
    "shape",
    ["rectangle", "ellipse", "triangle", "diagonal", "touching corners", "pixel"],
)
def test_region_area_equals_opencv_contour_area(shape: str) -> None:
    canvas = np.zeros((120, 213), np.uint8)
    if shape == "rectangle":
        cv2.rectangle(canvas, (20, 30), (70, 50), 255, -1)
    elif shape == "ellipse":
        cv2.ellipse(canvas, (100, 60), (40, 25), 20, 0, 360, 255, -1)
    elif shape == "triangle":
        cv2.fillPoly(
            canvas, [np.array([[10, 110], [90, 110], [50, 20]], np.int32)], 255
        )
    elif shape == "diagonal":
        cv2.line(canvas, (10, 10), (100, 100), 255, 7)
    elif shape == "touching corners":
        canvas[10:15, 10:15] = 255
        canvas[15:20, 15:20] = 255
    else:
        canvas[50, 50] = 255

    regions = connected_regions(canvas > 0)
    contours, _ = cv2.findContours(canvas, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)

    assert len(regions) == len(contours) == 1
    x, y, w, h, area = regions[0]
    assert (x, y, w, h) == cv2.boundingRect(contours[0])
    assert area == pytest.approx(cv2.contourArea(contours[0]), abs=1.0)


def test_min_area_filters_small_regions() -> None:
    mask = np.zeros((40, 40), bool)
    mask[5:10, 5:10] = True  # area 16, as one pixel after two dilations
    mask[20:30, 20:30] = True  # area 81
    assert [r[:4] for r in connected_regions(mask, 30)] == [(20, 20, 10, 10)]
    assert len(connected_regions(mask, 16)) == 2


# --- choosing the path ----------------------------------------------------------------


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MotionGate().backend == "opencv"
    assert MotionGate(backend="numpy").backend == "numpy"
    with pytest.raises(ValueError, match="Unknown motion backend"):
        MotionGate(backend="scipy")  # type: ignore[arg-type]

    monkeypatch.setattr(motion_module, "HAVE_OPENCV", False)
    assert MotionGate().backend == "numpy"
    with pytest.raises(ValueError, match="needs OpenCV"):
        MotionGate(backend="opencv")
