"""Vectorised box helpers and class-wise non-maximum suppression (numpy only)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def cxcywh_to_xyxy(boxes: npt.NDArray[np.floating]) -> FloatArray:
    """Convert ``[K, 4]`` centre/size boxes to corner boxes."""
    boxes = np.asarray(boxes, dtype=np.float32)
    half = boxes[:, 2:4] * 0.5
    return np.concatenate((boxes[:, 0:2] - half, boxes[:, 0:2] + half), axis=1)


def box_iou(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> FloatArray:
    """Pairwise IoU of ``[A, 4]`` and ``[B, 4]`` xyxy boxes, as ``[A, B]``."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(
    boxes: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
    iou_threshold: float,
    max_output: int | None = None,
) -> IntArray:
    """Greedy NMS; returns the kept indices, highest score first."""
    boxes = np.asarray(boxes, dtype=np.float32)
    order = np.argsort(-np.asarray(scores), kind="stable")
    if order.size == 0:
        return order.astype(np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep: list[int] = []
    limit = order.size if max_output is None else max_output
    while order.size and len(keep) < limit:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
    class_ids: npt.NDArray[np.integer],
    iou_threshold: float,
    max_output: int | None = None,
) -> IntArray:
    """Class-wise NMS: boxes of different classes never suppress each other.

    Uses the usual offset trick: each class's boxes are shifted to their own
    far-apart region so that one greedy pass handles all classes.
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(np.max(boxes) - min(float(np.min(boxes)), 0.0)) + 1.0
    offsets = np.asarray(class_ids, dtype=np.float32)[:, None] * span
    return nms(boxes + offsets, scores, iou_threshold, max_output)


def select_top(scores: npt.NDArray[np.floating], k: int) -> IntArray:
    """Return the indices of the ``k`` highest scores (all when there are fewer)."""
    if scores.shape[0] <= k:
        return np.arange(scores.shape[0], dtype=np.int64)
    return np.argpartition(-np.asarray(scores), k - 1)[:k].astype(np.int64)
