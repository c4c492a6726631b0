"""Motion gate: decide cheaply whether (and where) a frame needs the detector.

Frigate-style: the frame is turned grey and shrunk (area averaging also
averages sensor noise away), compared with a slowly updated running-average
background, thresholded, dilated, and the outer contours above a minimum area
become motion boxes (in full-frame pixels). When a large fraction of the
frame changes at once (lights switched on, camera switching to night mode,
auto exposure), the background is reset to the current frame and that frame
reports no motion. Slower global drifts (dusk, auto exposure) are evened out
by scaling each frame to the background's mean brightness before comparing.

Pure algorithm: numpy with OpenCV where it imports, no I/O, no Home Assistant.
Where OpenCV is missing (musl: HA OS, the HA container) the same steps run in
numpy, with Pillow drawing the mask: area averaging by whole-number blocks,
shifted maxima for the dilation, and a run-length labelling of the small
changed-pixel map for the boxes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import math
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

try:
    import cv2

    HAVE_OPENCV = True
except ImportError:  # musl: no OpenCV wheel; numpy and Pillow below
    HAVE_OPENCV = False

Point = tuple[float, float]
Region = tuple[int, int, int, int]
type MotionBackend = Literal["opencv", "numpy"]
type Mask = npt.NDArray[np.bool_]

# Below this mean grey level the exposure gain is too noisy to use.
MIN_MEAN_FOR_GAIN = 8.0
# OpenCV's fixed-point BGR -> grey weights (ITU-R BT.601), so both paths agree.
_GREY_WEIGHTS: Final = np.array([0.114, 0.587, 0.299], dtype=np.float32)


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
        backend: "opencv" or "numpy"; None takes OpenCV where it imports. The
            numpy path finds the same moving areas; its contour areas (for
            ``min_area``) are estimated from pixel counts, exact for solid blobs.

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
        backend: MotionBackend | None = None,
    ) -> None:
        if backend is None:
            backend = "opencv" if HAVE_OPENCV else "numpy"
        if backend not in ("opencv", "numpy"):
            raise ValueError(f"Unknown motion backend {backend!r}")
        if backend == "opencv" and not HAVE_OPENCV:
            raise ValueError(
                "The opencv motion backend needs OpenCV, which is not installed"
            )
        self.backend: MotionBackend = backend
        self._cv = backend == "opencv"
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
        polygons = [
            [(round(x * small_w), round(y * small_h)) for x, y in polygon]
            for polygon in self.mask_polygons
            if len(polygon) >= 3
        ]
        keep: npt.NDArray[np.uint8]
        if self._cv:
            keep = np.full((small_h, small_w), 255, dtype=np.uint8)
            for points in polygons:
                cv2.fillPoly(keep, [np.array(points, dtype=np.int32)], 0)
        else:
            canvas = Image.new("L", (small_w, small_h), 255)
            draw = ImageDraw.Draw(canvas)
            for points in polygons:
                draw.polygon(points, fill=0, outline=0)
            keep = np.asarray(canvas, dtype=np.uint8).copy()
        self._keep = keep if self.mask_polygons else None
        self._keep_bool = keep > 0 if self.mask_polygons else None
        self._active_pixels = int(np.count_nonzero(keep))

    def reset(self) -> None:
        """Forget the background; the next frame becomes it."""
        self._background = None

    def _small_grey(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        if not self._cv:
            return area_grey(frame, self._scale, self._small_size)
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
        """Return the changed pixels: non-zero where they count as change."""
        if not self._cv:
            moved: Mask = np.abs(frame.astype(np.int16) - reference) > self.threshold
            if self._keep_bool is not None:
                moved &= self._keep_bool
            return moved.view(np.uint8)
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
        if self.compensate_exposure and self._active_pixels:
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
                    compared = self._scale_abs(small, gain)
        reference = self._scale_abs(background, 1.0)
        changed = self._changed(compared, reference)
        count = int(np.count_nonzero(changed))
        self.changed_fraction = count / max(1, self._active_pixels)
        if compared is not small and self.changed_fraction < self.lightning_threshold:
            # An abrupt change that the gain only half evens out is still global.
            raw = int(np.count_nonzero(self._changed(small, reference)))
            self.changed_fraction = max(
                self.changed_fraction, raw / max(1, self._active_pixels)
            )

        if self.changed_fraction >= self.lightning_threshold:
            # A global change (lighting, exposure, IR switch): start over from here.
            self._background = small.astype(np.float32)
            self.calibrating = True
            return []

        if self._cv:
            cv2.accumulateWeighted(small, background, self.alpha)
        else:
            background *= 1.0 - self.alpha
            background += self.alpha * small.astype(np.float32)
        if count == 0:
            return []

        regions = (
            self._regions_cv(changed) if self._cv else self._regions_numpy(changed)
        )
        assert self._frame_shape is not None
        height, width = self._frame_shape
        scale_x = width / self._small_size[0]
        scale_y = height / self._small_size[1]
        boxes: list[MotionBox] = []
        for x, y, w, h in regions:
            x1 = max(0, math.floor(x * scale_x))
            y1 = max(0, math.floor(y * scale_y))
            x2 = min(width, math.ceil((x + w) * scale_x))
            y2 = min(height, math.ceil((y + h) * scale_y))
            boxes.append(MotionBox(x1, y1, x2 - x1, y2 - y1))
        return boxes

    def _scale_abs(
        self, image: npt.NDArray[np.uint8] | npt.NDArray[np.float32], gain: float
    ) -> npt.NDArray[np.uint8]:
        """Return ``image * gain`` rounded and saturated to 0..255."""
        if self._cv:
            return np.asarray(cv2.convertScaleAbs(image, alpha=gain), dtype=np.uint8)
        scaled = image * np.float32(gain) if gain != 1.0 else image
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)

    def _regions_cv(self, changed: npt.NDArray[np.uint8]) -> list[Region]:
        if self.dilate_iterations > 0:
            changed = np.asarray(
                cv2.dilate(changed, self._kernel, iterations=self.dilate_iterations),
                dtype=np.uint8,
            )
        contours, _ = cv2.findContours(
            changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        regions: list[Region] = []
        for contour in contours:
            if cv2.contourArea(contour) < self.min_area:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            regions.append((int(x), int(y), int(w), int(h)))
        return regions

    def _regions_numpy(self, changed: npt.NDArray[np.uint8]) -> list[Region]:
        mask = dilate(changed > 0, self.dilate_iterations)
        return [
            (x, y, w, h) for x, y, w, h, _ in connected_regions(mask, self.min_area)
        ]


def area_grey(
    frame: npt.NDArray[np.uint8], scale: int, size: tuple[int, int]
) -> npt.NDArray[np.uint8]:
    """Shrink a BGR or grey frame by a whole `scale` to `size` (w, h) grey, averaging blocks.

    What OpenCV's INTER_AREA does for a whole-number factor. The rows of each
    block are summed first, as adds of whole contiguous rows, so the large frame
    is read once; then one small matrix product sums each block's columns and
    applies the colour weights (both linear). A frame that is not a multiple
    of `scale` is cut, or padded by repeating its edge, to ``size * scale``.
    """
    small_w, small_h = size
    if frame.ndim == 3:
        frame = frame[:, :, :3]
    channels = frame.shape[2] if frame.ndim == 3 else 1
    need_h, need_w = small_h * scale, small_w * scale
    height, width = frame.shape[:2]
    if height < need_h or width < need_w:
        pad = [(0, max(0, need_h - height)), (0, max(0, need_w - width))]
        frame = np.pad(frame, pad + [(0, 0)] * (frame.ndim - 2), mode="edge")
        width = frame.shape[1]
    total = np.uint16 if 255 * scale < 2**16 else np.uint32
    rows = (
        np.ascontiguousarray(frame[:need_h])
        .reshape(small_h, scale, width * channels)
        .sum(axis=1, dtype=total)
    )
    weights = _GREY_WEIGHTS if channels == 3 else np.ones(1, dtype=np.float32)
    per_block = np.tile(weights / np.float32(scale * scale), scale)
    blocks = (
        rows[:, : need_w * channels]
        .astype(np.float32)
        .reshape(small_h, small_w, scale * channels)
    )
    grey: npt.NDArray[np.float32] = blocks @ per_block
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def _join(
    first: npt.NDArray[np.intp], counts: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    """Return each run's region as the smallest run index in it.

    Run ``i`` touches runs ``first[i]`` .. ``first[i] + counts[i] - 1``. A
    union-find done as whole-array steps: every round hooks each root that
    still touches another onto the smallest such root, then follows the links
    to the end. Each round at least halves the trees of every region, so a
    Python loop per run (milliseconds on a noisy map) becomes a few rounds.
    """
    n_runs = len(first)
    labels = np.arange(n_runs)
    total = int(counts.sum())
    if total == 0:
        return labels
    this = np.repeat(labels, counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    other = np.repeat(first, counts) + offsets
    while True:
        a, b = labels[this], labels[other]
        differ = a != b
        if not differ.any():
            return labels
        a, b = a[differ], b[differ]
        # Links only ever point to a smaller index, so they never form a cycle.
        np.minimum.at(labels, np.maximum(a, b), np.minimum(a, b))
        while True:
            followed = labels[labels]
            if np.array_equal(followed, labels):
                break
            labels = followed


def dilate(mask: Mask, iterations: int) -> Mask:
    """Dilate `mask` as `iterations` passes of a 3x3 square would: one (2n+1)^2 square.

    The square is separable, so it is done as maxima of shifted copies along
    each axis; pixels outside the image count as unset.
    """
    if iterations <= 0:
        return mask
    wide = mask.copy()
    for step in range(1, iterations + 1):
        wide[:, step:] |= mask[:, :-step]
        wide[:, :-step] |= mask[:, step:]
    tall = wide.copy()
    for step in range(1, iterations + 1):
        tall[step:] |= wide[:-step]
        tall[:-step] |= wide[step:]
    return tall


def connected_regions(
    mask: Mask, min_area: float = 0.0
) -> list[tuple[int, int, int, int, float]]:
    """Return ``(x, y, w, h, area)`` of each 8-connected region of `mask`, top to bottom.

    Regions whose `area` is below `min_area` are left out.

    The map is cut into horizontal runs of set pixels; runs on neighbouring
    rows that touch (diagonally too) are joined (see `_join`), which costs per
    run rather than per pixel. `area` estimates what OpenCV's contourArea
    gives for the region's outer contour through the pixel centres, by Pick's
    theorem: pixels - boundary pixels / 2 - 1 (exact for solid blobs; a hole or
    a one-pixel-wide strand makes it differ).
    """
    height, width = mask.shape
    if not mask.any():
        return []
    edges = np.zeros((height, width + 2), dtype=np.int8)
    edges[:, 1:-1] = mask
    steps = np.diff(edges, axis=1)
    run_rows, run_starts = np.nonzero(steps == 1)
    _, run_ends = np.nonzero(steps == -1)  # exclusive; same order as the starts
    stride = width + 2
    start_keys = run_rows * stride + run_starts
    end_keys = run_rows * stride + run_ends
    # For each run, the runs of the row above that touch it form one slice of
    # the (row-major, so sorted) run list.
    above = (run_rows - 1) * stride
    first = np.searchsorted(end_keys, above + run_starts, side="left")
    last = np.searchsorted(start_keys, above + run_ends, side="right")
    counts = np.maximum(last - first, 0)

    roots = _join(first, counts)
    labels, group = np.unique(roots, return_inverse=True)

    # Pixels with an unset 4-neighbour (or the image's edge) lie on a contour.
    padded = np.pad(mask, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    on_edge = np.zeros((height, width + 1), dtype=np.int32)
    np.cumsum(mask & ~inner, axis=1, out=on_edge[:, 1:])
    run_edge = on_edge[run_rows, run_ends] - on_edge[run_rows, run_starts]

    n_groups = len(labels)
    x1 = np.full(n_groups, width, dtype=np.intp)
    x2 = np.zeros(n_groups, dtype=np.intp)
    y1 = np.full(n_groups, height, dtype=np.intp)
    y2 = np.zeros(n_groups, dtype=np.intp)
    pixels = np.zeros(n_groups, dtype=np.intp)
    boundary = np.zeros(n_groups, dtype=np.intp)
    np.minimum.at(x1, group, run_starts)
    np.maximum.at(x2, group, run_ends)
    np.minimum.at(y1, group, run_rows)
    np.maximum.at(y2, group, run_rows + 1)
    np.add.at(pixels, group, run_ends - run_starts)
    np.add.at(boundary, group, run_edge)
    areas = np.maximum(pixels - boundary / 2.0 - 1.0, 0.0)
    big = areas >= min_area
    order = np.lexsort((x1[big], y1[big]))
    return list(
        zip(
            x1[big][order].tolist(),
            y1[big][order].tolist(),
            (x2 - x1)[big][order].tolist(),
            (y2 - y1)[big][order].tolist(),
            areas[big][order].tolist(),
            strict=True,
        )
    )


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
