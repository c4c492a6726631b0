"""Pure numpy decoders: raw model outputs -> boxes, scores, class ids.

Every decoder takes the per-class score thresholds (one float per class
column, ``inf`` for classes outside the allow-list) and drops candidates
below them *before* any expensive step (softmax of distribution bins,
exponentials, box conversion). Boxes come out as xyxy in model-input pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .postprocess import cxcywh_to_xyxy

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class Decoded(NamedTuple):
    """Candidate boxes of one frame before NMS."""

    boxes: FloatArray  # [K, 4] xyxy, model-input pixels
    scores: FloatArray  # [K]
    class_ids: IntArray  # [K]

    @classmethod
    def empty(cls) -> Decoded:
        """No candidates."""
        return cls(
            np.zeros((0, 4), dtype=np.float32),
            np.zeros(0, dtype=np.float32),
            np.zeros(0, dtype=np.int64),
        )

    def take(self, index: npt.NDArray[np.integer]) -> Decoded:
        """Keep the candidates at ``index``."""
        return Decoded(self.boxes[index], self.scores[index], self.class_ids[index])


def _candidates(
    scores: FloatArray, thresholds: FloatArray
) -> tuple[IntArray, IntArray]:
    """(row, class) pairs of a ``[N, C]`` score matrix at or above the class thresholds.

    ``flatnonzero`` + divmod is an order of magnitude faster than a 2-D
    ``nonzero`` on the mostly-False masks seen here.
    """
    flat = np.flatnonzero(scores >= thresholds[None, : scores.shape[1]])
    rows, cols = np.divmod(flat, scores.shape[1])
    return rows.astype(np.int64), cols.astype(np.int64)


def anchor_grid(
    levels: Sequence[tuple[int, int, int]], offset: float
) -> tuple[FloatArray, FloatArray]:
    """Cell positions ``[N, 2]`` (col + offset, row + offset, in cells) and strides ``[N]``.

    ``levels`` lists ``(cols, rows, stride)`` per head level. Levels are
    concatenated in the given order, cells row-major within a level, which is
    how NanoDet, YOLOX and YOLOv8 flatten their heads.
    """
    grids: list[FloatArray] = []
    level_strides: list[FloatArray] = []
    for cols, rows, stride in levels:
        yy, xx = np.meshgrid(
            np.arange(rows, dtype=np.float32),
            np.arange(cols, dtype=np.float32),
            indexing="ij",
        )
        grids.append(np.stack((xx.ravel() + offset, yy.ravel() + offset), axis=1))
        level_strides.append(np.full(rows * cols, stride, dtype=np.float32))
    return (
        np.concatenate(grids).astype(np.float32),
        np.concatenate(level_strides).astype(np.float32),
    )


def level_shape(
    width: int, height: int, stride: int, cells: int | None = None
) -> tuple[int, int] | None:
    """``(cols, rows)`` of a head level; rounding up or down, whichever gives ``cells``."""
    options = (
        (-(-width // stride), -(-height // stride)),
        (width // stride, height // stride),
    )
    for cols, rows in options:
        if cells is None or cols * rows == cells:
            return cols, rows
    return None


def decode_gfl(
    cls_scores: FloatArray,
    box_dists: FloatArray,
    centres: FloatArray,
    strides: FloatArray,
    thresholds: FloatArray,
) -> Decoded:
    """NanoDet / GFL head.

    ``cls_scores`` ``[N, C]`` sigmoid scores; ``box_dists`` ``[N, 4 * (R + 1)]``
    logits of the distance distributions of the left, top, right and bottom
    sides; ``centres`` ``[N, 2]`` cell centres in input pixels; ``strides`` ``[N]``.
    A side's distance is ``sum_i softmax(bins)_i * i * stride`` from the centre.
    Only cells with at least one class above its threshold get the softmax.
    """
    rows, class_ids = _candidates(cls_scores, thresholds)
    if rows.size == 0:
        return Decoded.empty()
    cells, inverse = np.unique(rows, return_inverse=True)
    bins = box_dists.shape[1] // 4
    logits = box_dists[cells].reshape(-1, 4, bins).astype(np.float32, copy=False)
    logits -= logits.max(axis=2, keepdims=True)
    np.exp(logits, out=logits)
    weights = np.arange(bins, dtype=np.float32)
    distance = (logits @ weights) / logits.sum(axis=2)
    distance *= strides[cells, None]
    centre = centres[cells]
    boxes = np.concatenate(
        (centre - distance[:, 0:2], centre + distance[:, 2:4]), axis=1
    )
    return Decoded(
        boxes[inverse], cls_scores[rows, class_ids].astype(np.float32), class_ids
    )


def decode_yolov8(
    output: FloatArray, thresholds: FloatArray, num_classes: int
) -> Decoded:
    """YOLOv8 / YOLO11 (ultralytics) ``[4 + C (+ extra), N]``: cx, cy, w, h, class scores.

    Extra channels after the classes (segmentation mask coefficients, pose
    key points) are ignored.
    """
    scores = output[4 : 4 + num_classes]
    flat = np.flatnonzero(scores >= thresholds[:num_classes, None])
    classes, rows = np.divmod(flat, scores.shape[1])
    if rows.size == 0:
        return Decoded.empty()
    boxes = cxcywh_to_xyxy(output[0:4, rows].T)
    return Decoded(
        boxes, scores.ravel()[flat].astype(np.float32), classes.astype(np.int64)
    )


def decode_yolov5(output: FloatArray, thresholds: FloatArray) -> Decoded:
    """YOLOv5 / YOLOv7 ``[N, 5 + C]``: cx, cy, w, h (input pixels), objectness, class scores.

    The score of a class is objectness x class probability.
    """
    floor = float(thresholds.min())
    keep = np.nonzero(output[:, 4] >= floor)[0]
    if keep.size == 0:
        return Decoded.empty()
    rows = output[keep]
    scores = rows[:, 5:] * rows[:, 4:5]
    sub_rows, class_ids = _candidates(scores, thresholds)
    if sub_rows.size == 0:
        return Decoded.empty()
    boxes = cxcywh_to_xyxy(rows[sub_rows, 0:4])
    return Decoded(boxes, scores[sub_rows, class_ids].astype(np.float32), class_ids)


def decode_yolox(
    output: FloatArray, thresholds: FloatArray, grid: FloatArray, strides: FloatArray
) -> Decoded:
    """YOLOX ``[N, 5 + C]`` as exported by default (``decode_in_inference=False``).

    Rows are raw regressions relative to their cell: ``cx = (x + col) * s``,
    ``cy = (y + row) * s``, ``w = exp(w) * s``, ``h = exp(h) * s``; objectness and
    class scores are already sigmoid. ``grid`` holds (col, row) per row.
    """
    floor = float(thresholds.min())
    keep = np.nonzero(output[:, 4] >= floor)[0]
    if keep.size == 0:
        return Decoded.empty()
    rows = output[keep]
    scores = rows[:, 5:] * rows[:, 4:5]
    sub_rows, class_ids = _candidates(scores, thresholds)
    if sub_rows.size == 0:
        return Decoded.empty()
    cells = keep[sub_rows]
    raw = rows[sub_rows, 0:4].astype(np.float32)
    stride = strides[cells, None]
    centre = (raw[:, 0:2] + grid[cells]) * stride
    size = np.exp(np.minimum(raw[:, 2:4], 20.0)) * stride
    boxes = cxcywh_to_xyxy(np.concatenate((centre, size), axis=1))
    return Decoded(boxes, scores[sub_rows, class_ids].astype(np.float32), class_ids)


def lookup_thresholds(
    thresholds: FloatArray, class_ids: IntArray, default: float
) -> FloatArray:
    """Per-detection threshold for arbitrary class ids (``default`` past the table)."""
    inside = (class_ids >= 0) & (class_ids < thresholds.shape[0])
    safe = np.where(inside, class_ids, 0)
    return np.where(inside, thresholds[safe], np.float32(default)).astype(np.float32)


def decode_end2end(
    output: FloatArray, thresholds: FloatArray, default: float
) -> Decoded:
    """End-to-end YOLO (YOLOv10, ultralytics ``nms=True``) ``[N, 6]``: x1, y1, x2, y2, score, class."""
    class_ids = np.rint(output[:, 5]).astype(np.int64)
    scores = output[:, 4].astype(np.float32)
    keep = np.nonzero(scores >= lookup_thresholds(thresholds, class_ids, default))[0]
    return Decoded(output[keep, 0:4].astype(np.float32), scores[keep], class_ids[keep])


def decode_detr(
    labels: npt.NDArray[np.generic],
    boxes: FloatArray,
    scores: FloatArray,
    thresholds: FloatArray,
    default: float,
    box_scale: tuple[float, float],
) -> Decoded:
    """RT-DETR / D-FINE style ``labels [N]``, ``boxes [N, 4]`` xyxy, ``scores [N]``.

    ``box_scale`` multiplies x and y coordinates (1, 1 when the model was given
    the input size as ``orig_target_sizes``; the input size when it returns
    normalised boxes).
    """
    class_ids = np.rint(np.asarray(labels, dtype=np.float64)).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    keep = np.nonzero(scores >= lookup_thresholds(thresholds, class_ids, default))[0]
    out = np.asarray(boxes[keep], dtype=np.float32).copy()
    out[:, 0::2] *= box_scale[0]
    out[:, 1::2] *= box_scale[1]
    return Decoded(out, scores[keep], class_ids[keep])


def decode_detr_dense(
    output: FloatArray,
    thresholds: FloatArray,
    num_classes: int,
    width: int,
    height: int,
) -> Decoded:
    """Ultralytics RT-DETR ``[N, 4 + C]``: normalised cx, cy, w, h, then sigmoid class scores."""
    scores = output[:, 4 : 4 + num_classes]
    rows, class_ids = _candidates(scores, thresholds)
    if rows.size == 0:
        return Decoded.empty()
    boxes = cxcywh_to_xyxy(output[rows, 0:4])
    boxes[:, 0::2] *= width
    boxes[:, 1::2] *= height
    return Decoded(boxes, scores[rows, class_ids].astype(np.float32), class_ids)
