"""Motion gate and detection region on generated frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from custom_components.camera_alerts.pipeline.motion import (
    MotionBox,
    MotionGate,
    detection_region,
)

W, H = 640, 360


def scene(seed: int = 1) -> np.ndarray:
    """A textured still background (smooth random blobs)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, size=(H // 20, W // 20, 3), dtype=np.uint8)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)


def noisy(
    image: np.ndarray, rng: np.random.Generator, sigma: float = 4.0
) -> np.ndarray:
    noise = rng.normal(0.0, sigma, size=image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def with_square(
    image: np.ndarray, x: int, y: int, size: int = 60, value: int = 20
) -> np.ndarray:
    out = image.copy()
    out[y : y + size, x : x + size] = value
    return out


def test_static_scene_with_sensor_noise_has_no_motion() -> None:
    gate = MotionGate()
    rng = np.random.default_rng(7)
    background = scene()
    moving_frames = sum(bool(gate.update(noisy(background, rng))) for _ in range(200))
    assert moving_frames == 0
    assert gate.changed_fraction < 0.01


def test_moving_object_gives_a_box_around_it() -> None:
    gate = MotionGate()
    rng = np.random.default_rng(3)
    background = scene()
    for _ in range(5):
        assert gate.update(noisy(background, rng)) == []
    for step in range(10):
        x, y = 100 + 20 * step, 150
        boxes = gate.update(noisy(with_square(background, x, y), rng))
        assert boxes, step
        union_x1 = min(b.x for b in boxes)
        union_y1 = min(b.y for b in boxes)
        union_x2 = max(b.x + b.width for b in boxes)
        union_y2 = max(b.y + b.height for b in boxes)
        # the square is inside the motion boxes, which stay near it
        assert union_x1 <= x
        assert union_y1 <= y
        assert union_x2 >= x + 60
        assert union_y2 >= y + 60
        assert union_x2 - union_x1 <= 60 + 20 * step + 40
        assert all(b.area > 0 for b in boxes)


def test_sudden_lighting_change_recalibrates() -> None:
    gate = MotionGate()
    rng = np.random.default_rng(5)
    background = scene()
    for _ in range(5):
        gate.update(noisy(background, rng))
    brighter = cv2.convertScaleAbs(background, alpha=1.0, beta=70)
    assert gate.update(noisy(brighter, rng)) == []
    assert gate.calibrating
    assert gate.changed_fraction >= gate.lightning_threshold
    for _ in range(20):
        assert gate.update(noisy(brighter, rng)) == []
    assert not gate.calibrating


def test_slow_lighting_change_is_absorbed() -> None:
    gate = MotionGate()
    rng = np.random.default_rng(9)
    background = scene()
    moving = 0
    for step in range(120):  # dusk: 30 % darker over 120 frames
        factor = 1.0 - 0.3 * step / 120
        moving += bool(
            gate.update(noisy(cv2.convertScaleAbs(background, alpha=factor), rng))
        )
    assert moving <= 3


def test_motion_mask_ignores_masked_area() -> None:
    mask = [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]  # left half
    gate = MotionGate(mask=mask)
    background = scene()
    gate.update(background)
    assert gate.update(with_square(background, 50, 100)) == []
    boxes = gate.update(with_square(background, 450, 100))
    assert boxes
    assert all(b.x >= W // 2 - 10 for b in boxes)


def test_small_changes_below_min_area_are_ignored() -> None:
    gate = MotionGate()
    background = scene()
    gate.update(background)
    assert gate.update(with_square(background, 300, 200, size=4, value=255)) == []


def test_frame_shape_given_or_changed_and_grey_frames() -> None:
    gate = MotionGate((H, W), frame_height=90)
    background = scene()
    grey = cv2.cvtColor(background, cv2.COLOR_BGR2GRAY)
    assert gate.update(grey) == []
    assert gate.update(
        cv2.cvtColor(with_square(background, 200, 100), cv2.COLOR_BGR2GRAY)
    )
    smaller = cv2.resize(background, (320, 180))
    assert gate.update(smaller) == []  # new size: starts over
    boxes = gate.update(with_square(smaller, 100, 50, size=40))
    assert boxes
    assert all(b.x + b.width <= 320 and b.y + b.height <= 180 for b in boxes)
    gate.reset()
    assert gate.update(smaller) == []


def test_tiny_frames_are_not_upscaled() -> None:
    gate = MotionGate(frame_height=120)
    tiny = np.zeros((60, 80, 3), np.uint8)
    gate.update(tiny)
    tiny2 = tiny.copy()
    tiny2[10:30, 10:30] = 255
    boxes = gate.update(tiny2)
    assert boxes
    assert boxes[0].as_tuple()[2] <= 30


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="frame_height"):
        MotionGate(frame_height=2)
    with pytest.raises(ValueError, match="alpha"):
        MotionGate(alpha=0)
    with pytest.raises(ValueError, match="lightning"):
        MotionGate(lightning_threshold=1.5)
    with pytest.raises(ValueError, match="uint8"):
        MotionGate().update(np.zeros((10, 10, 3), np.float32))
    gate = MotionGate(mask=[[(0.0, 0.0), (1.0, 1.0)]])  # degenerate polygon is skipped
    gate.update(scene())
    assert gate.update(with_square(scene(), 10, 10))


def test_no_dilation() -> None:
    gate = MotionGate(dilate_iterations=0)
    background = scene()
    gate.update(background)
    assert gate.update(with_square(background, 300, 100))


# ----------------------------------------------------------------------------- region


def test_region_is_model_sized_around_local_motion() -> None:
    region = detection_region([MotionBox(600, 300, 50, 100)], (1280, 720), (416, 416))
    assert region is not None
    x, y, w, h = region
    assert (w, h) == (416, 416)
    assert x <= 600
    assert x + w >= 650
    assert y <= 300
    assert y + h >= 400
    assert (x, y) == (417, 142)  # centred on the box


def test_region_clamped_into_the_frame() -> None:
    assert detection_region([(1250, 700, 20, 15)], (1280, 720), (416, 416)) == (
        864,
        304,
        416,
        416,
    )
    assert detection_region([(0, 0, 10, 10)], (1280, 720), (416, 416)) == (
        0,
        0,
        416,
        416,
    )


def test_region_grows_for_large_motion_and_keeps_model_aspect() -> None:
    region = detection_region(
        [(100, 100, 300, 200), (350, 250, 100, 200)], (1920, 1080), (416, 416)
    )
    assert region is not None
    _, _, w, h = region
    assert w == h
    assert w >= 350 * 1.3  # union 350 wide, 350 tall plus margins
    wide_model = detection_region([(500, 300, 40, 40)], (1280, 720), (640, 384))
    assert wide_model is not None
    assert wide_model[2:] == (640, 384)


def test_whole_frame_when_region_would_not_help() -> None:
    assert detection_region([], (1280, 720)) is None
    assert detection_region([(0, 0, 1000, 600)], (1280, 720)) is None  # does not fit
    assert (
        detection_region([(10, 10, 20, 20), (1200, 650, 20, 20)], (1280, 720)) is None
    )
    assert (
        detection_region([(0, 0, 50, 50)], (400, 300), (416, 416)) is None
    )  # frame smaller than model
    assert (
        detection_region(
            [(100, 100, 300, 300)], (1280, 720), (416, 416), max_fraction=0.1
        )
        is None
    )
    assert detection_region([(0, 0, 5, 5)], (1280, 720), (0, 0)) is None


def test_exposure_compensation_can_be_turned_off() -> None:
    background = scene()
    darker = [cv2.convertScaleAbs(background, alpha=1.0 - 0.3 * step / 60) for step in range(60)]
    compensated = MotionGate()
    plain = MotionGate(compensate_exposure=False, lightning_threshold=1.0)
    moving_compensated = sum(bool(compensated.update(f)) for f in darker)
    moving_plain = sum(bool(plain.update(f)) for f in darker)
    assert moving_compensated <= 2
    assert moving_plain > moving_compensated


def test_dark_scenes_skip_the_gain() -> None:
    gate = MotionGate(mask=[[(0.0, 0.0), (0.2, 0.0), (0.2, 0.2)]])
    dark = np.full((H, W, 3), 3, np.uint8)
    gate.update(dark)
    assert gate.update(np.full((H, W, 3), 5, np.uint8)) == []
    assert gate.update(with_square(dark, 300, 100, value=200))
