"""Motion gate: decide cheaply whether (and where) a frame needs the detector.

Frigate-style: the frame is turned grey and shrunk (area averaging also
averages sensor noise away), compared with a slowly updated running-average
background, thresholded, dilated, and the outer contours above a minimum area
become motion boxes (in full-frame pixels). When a large fraction of the
frame changes at once (lights switched on, camera switching to night mode,
auto exposure), the background is reset to the current frame and that frame
reports no motion. Slower global drifts (dusk, auto exposure) are evened out
by scaling each frame to the background's mean brightness before comparing.

Pure algorithm: numpy and OpenCV only, no I/O, no Home Assistant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import math

import cv2
import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
Region = tuple[int, int, int, int]

# Below this mean grey level the exposure gain is too noisy to use.
MIN_MEAN_FOR_GAIN = 8.0


@dataclass(frozen=True, slots=True)
class MotionBox:
    """A moving area in full-frame pixels: top-left corner plus size."""

    x: int
    y: int
    width: int
    height: int

    @property
    def area(self) -> int:
        """Width x height."""
        return self.width * self.height

    def as_tuple(self) -> Region:
        """``(x, y, width, height)``."""
        return self.x, self.y, self.width, self.height


class MotionGate:
    """Running-average background subtraction on a small grey copy of each frame.

    Args:
        frame_shape: ``(height, width)`` of the frames, or None to take it from
            the first frame (a frame of another size later starts afresh).
        frame_height: height of the grey copy the comparison runs on.
        threshold: grey-level difference (0..255) that counts as change.
        min_area: smallest contour area (after dilation), in pixels of the grey
            copy, that counts; with two dilations one changed pixel measures 16,
            so 30 asks for about 3x3 changed pixels (18x18 in a 720p frame).
        alpha: weight of each new frame in the running-average background.
        lightning_threshold: fraction of (unmasked) pixels changing at once
            that is taken as a global lighting change instead of motion.
        dilate_iterations: 3x3 dilations joining nearby changed pixels.
        mask: polygons in frame-relative coordinates (0..1) where motion is
            ignored, e.g. a tree or a timestamp overlay.
        compensate_exposure: scale each frame's brightness to the background's
            mean before comparing, so slow global changes (dusk, auto exposure)
            are not taken for motion.

    """

    def __init__(
        self,
        frame_shape: tuple[int, int] | None = None,
        *,
        frame_height: int = 120,
        threshold: int = 25,
        min_area: int = 30,
        alpha: float = 0.02,
        lightning_threshold: float = 0.6,
        dilate_iterations: int = 2,
        mask: Sequence[Sequence[Point]] | None = None,
        compensate_exposure: bool = True,
    ) -> None:
        if frame_height < 8:
            raise ValueError("frame_height must be at least 8")
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        if not 0.0 < lightning_threshold <= 1.0:
            raise ValueError("lightning_threshold must be in (0, 1]")
        self.frame_height = int(frame_height)
        self.threshold = int(threshold)
        self.min_area = int(min_area)
        self.alpha = float(alpha)
        self.lightning_threshold = float(lightning_threshold)
        self.dilate_iterations = int(dilate_iterations)
        self.compensate_exposure = bool(compensate_exposure)
        self.mask_polygons: tuple[tuple[Point, ...], ...] = tuple(
            tuple((float(x), float(y)) for x, y in polygon) for polygon in (mask or ())
        )
        self._kernel = np.ones((3, 3), dtype=np.uint8)
        self._frame_shape: tuple[int, int] | None = None
        self._small_size: tuple[int, int] = (0, 0)
        self._scale = 1
        self._background: npt.NDArray[np.float32] | None = None
        self._keep: npt.NDArray[np.uint8] | None = None  # 255 where motion counts
        self._active_pixels = 0
        self.calibrating = False
        self.changed_fraction = 0.0
        if frame_shape is not None:
            self._configure((int(frame_shape[0]), int(frame_shape[1])))

    def _configure(self, shape: tuple[int, int]) -> None:
        height, width = shape
        # A whole-number shrink factor lets OpenCV take its fast area-averaging
        # path: 1280x720 -> 213x120 costs 0.6 ms instead of 1.4 ms per frame.
        self._scale = max(1, round(height / self.frame_height))
        small_h = max(1, round(height / self._scale))
        small_w = max(1, round(width / self._scale))
        self._frame_shape = shape
        self._small_size = (small_w, small_h)
        self._background = None
        keep = np.full((small_h, small_w), 255, dtype=np.uint8)
        for polygon in self.mask_polygons:
            if len(polygon) < 3:
                continue
            points = np.array(
                [[x * small_w, y * small_h] for x, y in polygon], dtype=np.float32
            )
            cv2.fillPoly(keep, [np.round(points).astype(np.int32)], 0)
        self._keep = keep if self.mask_polygons else None
        self._active_pixels = int(cv2.countNonZero(keep))

    def reset(self) -> None:
        """Forget the background; the next frame becomes it."""
        self._background = None

    def _small_grey(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if self._scale > 1:
            grey = cv2.resize(
                grey,
                None,
                fx=1.0 / self._scale,
                fy=1.0 / self._scale,
                interpolation=cv2.INTER_AREA,
            )
            if (grey.shape[1], grey.shape[0]) != self._small_size:
                # OpenCV rounded the size another way: match the background's.
                grey = cv2.resize(grey, self._small_size, interpolation=cv2.INTER_AREA)
        return np.asarray(grey, dtype=np.uint8)

    def _changed(
        self, frame: npt.NDArray[np.uint8], reference: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.uint8]:
        delta = cv2.absdiff(frame, reference)
        _, changed = cv2.threshold(delta, self.threshold, 255, cv2.THRESH_BINARY)
        if self._keep is not None:
            changed = cv2.bitwise_and(changed, self._keep)
        return np.asarray(changed, dtype=np.uint8)

    def update(self, frame_bgr: npt.NDArray[np.uint8]) -> list[MotionBox]:
        """Feed one frame; return the moving areas (empty: no motion)."""
        if frame_bgr.ndim not in (2, 3) or frame_bgr.dtype != np.uint8:
            raise ValueError(
                f"expected a uint8 BGR or grey frame, got {frame_bgr.dtype} {frame_bgr.shape}"
            )
        shape = (int(frame_bgr.shape[0]), int(frame_bgr.shape[1]))
        if shape != self._frame_shape:
            self._configure(shape)
        small = self._small_grey(frame_bgr)
        self.calibrating = False
        if self._background is None:
            self._background = small.astype(np.float32)
            self.changed_fraction = 0.0
            return []

        background = self._background
        compared = small
        if self.compensate_exposure:
            # Global brightness drift (dusk, auto exposure) would otherwise show
            # as change everywhere while the slow background lags behind it.
            mask = self._keep if self._keep is not None else None
            frame_mean = float(np.mean(small if mask is None else small[mask > 0]))
            background_mean = float(
                np.mean(background if mask is None else background[mask > 0])
            )
            if frame_mean >= MIN_MEAN_FOR_GAIN and background_mean >= MIN_MEAN_FOR_GAIN:
                gain = min(max(background_mean / frame_mean, 0.5), 2.0)
                if abs(gain - 1.0) > 0.005:
                    compared = np.asarray(
                        cv2.convertScaleAbs(small, alpha=gain), dtype=np.uint8
                    )
        reference = np.asarray(cv2.convertScaleAbs(background), dtype=np.uint8)
        changed = self._changed(compared, reference)
        count = int(cv2.countNonZero(changed))
        self.changed_fraction = count / max(1, self._active_pixels)
        if compared is not small and self.changed_fraction < self.lightning_threshold:
            # An abrupt change that the gain only half evens out is still global.
            raw = int(cv2.countNonZero(self._changed(small, reference)))
            self.changed_fraction = max(
                self.changed_fraction, raw / max(1, self._active_pixels)
            )

        if self.changed_fraction >= self.lightning_threshold:
            # A global change (lighting, exposure, IR switch): start over from here.
            self._background = small.astype(np.float32)
            self.calibrating = True
            return []

        cv2.accumulateWeighted(small, background, self.alpha)
        if count == 0:
            return []

        if self.dilate_iterations > 0:
            changed = np.asarray(
                cv2.dilate(changed, self._kernel, iterations=self.dilate_iterations),
                dtype=np.uint8,
            )
        contours, _ = cv2.findContours(
            changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        assert self._frame_shape is not None
        height, width = self._frame_shape
        scale_x = width / self._small_size[0]
        scale_y = height / self._small_size[1]
        boxes: list[MotionBox] = []
        for contour in contours:
            if cv2.contourArea(contour) < self.min_area:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            x1 = max(0, math.floor(x * scale_x))
            y1 = max(0, math.floor(y * scale_y))
            x2 = min(width, math.ceil((x + w) * scale_x))
            y2 = min(height, math.ceil((y + h) * scale_y))
            boxes.append(MotionBox(x1, y1, x2 - x1, y2 - y1))
        return boxes


BoxLike = MotionBox | tuple[float, float, float, float]


def _xywh(box: BoxLike) -> tuple[float, float, float, float]:
    if isinstance(box, MotionBox):
        return float(box.x), float(box.y), float(box.width), float(box.height)
    x, y, w, h = box
    return float(x), float(y), float(w), float(h)


def detection_region(
    boxes: Iterable[BoxLike],
    frame_size: tuple[int, int],
    model_size: tuple[int, int] = (416, 416),
    *,
    margin: float = 0.15,
    max_fraction: float = 0.6,
) -> Region | None:
    """Where to run the detector for these (motion) boxes; None means the whole frame.

    When the motion is local, the region is a crop with the model's aspect
    ratio around the union of the boxes (plus ``margin`` of its size on each
    side): the model's own input size when that is enough (objects are then
    seen at full resolution), larger when the union needs it. It is moved
    into the frame where it would stick out. The whole frame is used instead
    when there are no boxes, when the crop would not fit into the frame, or
    when it would cover more than ``max_fraction`` of it anyway.

    Args:
        boxes: ``MotionBox`` objects or ``(x, y, w, h)`` tuples in frame pixels.
        frame_size: ``(width, height)`` of the frame.
        model_size: ``(width, height)`` of the detector's input.
        margin: room added around the union on each side, as a fraction of its size.
        max_fraction: above this share of the frame's area, use the whole frame.

    """
    frame_w, frame_h = frame_size
    model_w, model_h = model_size
    items = [_xywh(box) for box in boxes]
    if not items or model_w <= 0 or model_h <= 0:
        return None
    x1 = min(x for x, _, _, _ in items)
    y1 = min(y for _, y, _, _ in items)
    x2 = max(x + w for x, _, w, _ in items)
    y2 = max(y + h for _, y, _, h in items)
    need_w = (x2 - x1) * (1.0 + 2.0 * margin)
    need_h = (y2 - y1) * (1.0 + 2.0 * margin)
    factor = max(1.0, need_w / model_w, need_h / model_h)
    region_w = math.ceil(model_w * factor)
    region_h = math.ceil(model_h * factor)
    if region_w > frame_w or region_h > frame_h:
        return None
    if region_w * region_h > max_fraction * frame_w * frame_h:
        return None
    centre_x = (x1 + x2) / 2.0
    centre_y = (y1 + y2) / 2.0
    left = min(max(round(centre_x - region_w / 2.0), 0), frame_w - region_w)
    top = min(max(round(centre_y - region_h / 2.0), 0), frame_h - region_h)
    return int(left), int(top), int(region_w), int(region_h)
