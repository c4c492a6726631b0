"""Decoders, NMS and pre-processing on known tensors with hand-computed boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from custom_components.camera_alerts.inference.adapters import Thresholds
from custom_components.camera_alerts.inference.decoders import (
    Decoded,
    anchor_grid,
    decode_detr,
    decode_detr_dense,
    decode_end2end,
    decode_gfl,
    decode_yolov5,
    decode_yolov8,
    decode_yolox,
    level_shape,
    lookup_thresholds,
)
from custom_components.camera_alerts.inference.postprocess import (
    batched_nms,
    box_iou,
    cxcywh_to_xyxy,
    nms,
    select_top,
)
from custom_components.camera_alerts.inference.preprocess import (
    PreprocessSpec,
    as_bgr,
    clamp_region,
    prepare,
)

BIG = 60.0  # a logit that makes a softmax one-hot


def as_rows(decoded: Decoded) -> list[tuple[int, float, list[float]]]:
    order = np.argsort(-decoded.scores)
    return [
        (
            int(decoded.class_ids[i]),
            round(float(decoded.scores[i]), 4),
            [round(float(v), 4) for v in decoded.boxes[i]],
        )
        for i in order
    ]


def test_anchor_grid_and_level_shape() -> None:
    grid, strides = anchor_grid([(2, 1, 8), (1, 1, 16)], offset=0.5)
    assert grid.tolist() == [[0.5, 0.5], [1.5, 0.5], [0.5, 0.5]]
    assert strides.tolist() == [8, 8, 16]
    assert level_shape(416, 416, 8) == (52, 52)
    assert level_shape(420, 420, 8, 53 * 53) == (53, 53)  # rounded up
    assert level_shape(420, 420, 8, 52 * 52) == (52, 52)  # rounded down
    assert level_shape(420, 420, 8, 7) is None


def test_gfl_distribution_expectation() -> None:
    grid, strides = anchor_grid([(2, 1, 8)], offset=0.5)
    centres = grid * strides[:, None]  # (4, 4) and (12, 4)
    bins = 4  # reg_max 3
    dists = np.zeros((2, 4 * bins), dtype=np.float32)
    left = [0, 0, BIG, 0]  # one-hot at bin 2 -> 2
    top = [0, 0, 0, 0]  # uniform -> 1.5
    right = [0, math.log(3), 0, 0]  # weights 1,3,1,1 -> 8/6
    bottom = [BIG, 0, 0, 0]  # bin 0 -> 0
    dists[1] = left + top + right + bottom
    scores = np.array([[0.2, 0.3], [0.5, 0.9]], dtype=np.float32)

    decoded = decode_gfl(
        scores, dists, centres, strides, np.array([0.4, 0.4], dtype=np.float32)
    )
    # centre (12, 4); distances x8: left 16, top 12, right 10.6667, bottom 0
    expected_box = [-4.0, -8.0, 22.6667, 4.0]
    assert as_rows(decoded) == [(1, 0.9, expected_box), (0, 0.5, expected_box)]

    only_class0 = decode_gfl(
        scores, dists, centres, strides, np.array([0.4, np.inf], dtype=np.float32)
    )
    assert as_rows(only_class0) == [(0, 0.5, expected_box)]
    nothing = decode_gfl(
        scores, dists, centres, strides, np.array([0.95, 0.95], dtype=np.float32)
    )
    assert nothing.scores.size == 0
    assert nothing.boxes.shape == (0, 4)


def test_yolov8_channels_first() -> None:
    out = np.zeros((6, 3), dtype=np.float32)
    out[:, 0] = [10, 20, 4, 6, 0.1, 0.7]
    out[:, 1] = [50, 50, 10, 10, 0.6, 0.2]
    out[:, 2] = [5, 5, 2, 2, 0.1, 0.1]
    decoded = decode_yolov8(out, np.array([0.4, 0.4], dtype=np.float32), num_classes=2)
    assert as_rows(decoded) == [
        (1, 0.7, [8.0, 17.0, 12.0, 23.0]),
        (0, 0.6, [45.0, 45.0, 55.0, 55.0]),
    ]
    assert (
        decode_yolov8(out, np.array([0.9, 0.9], dtype=np.float32), 2).scores.size == 0
    )


def test_yolov8_ignores_extra_channels() -> None:
    out = np.zeros((4 + 1 + 3, 1), dtype=np.float32)  # 1 class + 3 mask coefficients
    out[:, 0] = [10, 10, 2, 2, 0.8, 0.99, 0.99, 0.99]
    decoded = decode_yolov8(out, np.array([0.5], dtype=np.float32), num_classes=1)
    assert as_rows(decoded) == [(0, 0.8, [9.0, 9.0, 11.0, 11.0])]


def test_yolov5_objectness_times_class() -> None:
    out = np.array(
        [
            [10, 10, 4, 4, 0.5, 0.9, 0.1],
            [30, 30, 10, 20, 0.9, 0.2, 0.8],
            [60, 60, 4, 4, 0.1, 1.0, 1.0],
        ],
        dtype=np.float32,
    )
    decoded = decode_yolov5(out, np.array([0.4, 0.4], dtype=np.float32))
    assert as_rows(decoded) == [
        (1, 0.72, [25.0, 20.0, 35.0, 40.0]),
        (0, 0.45, [8.0, 8.0, 12.0, 12.0]),
    ]
    assert decode_yolov5(out, np.array([0.95, 0.95], dtype=np.float32)).scores.size == 0
    # objectness passes, the products do not
    assert (
        decode_yolov5(out[:1], np.array([0.5, 0.5], dtype=np.float32)).scores.size == 0
    )


def test_yolox_grid_relative() -> None:
    grid, strides = anchor_grid([(2, 2, 8), (1, 1, 16)], offset=0.0)
    out = np.zeros((5, 7), dtype=np.float32)
    out[3] = [
        0.5,
        -0.5,
        math.log(2),
        math.log(0.5),
        0.9,
        1.0,
        0.5,
    ]  # cell (col 1, row 1), stride 8
    out[4] = [0, 0, 0, 0, 0.5, 0.5, 0.5]
    decoded = decode_yolox(out, np.array([0.4, 0.4], dtype=np.float32), grid, strides)
    # cx = (0.5 + 1) * 8 = 12, cy = (-0.5 + 1) * 8 = 4, w = 2 * 8, h = 0.5 * 8
    assert as_rows(decoded) == [
        (0, 0.9, [4.0, 2.0, 20.0, 6.0]),
        (1, 0.45, [4.0, 2.0, 20.0, 6.0]),
    ]
    assert (
        decode_yolox(
            out, np.array([0.95, 0.95], dtype=np.float32), grid, strides
        ).scores.size
        == 0
    )
    assert (
        decode_yolox(
            out[4:], np.array([0.3, 0.3], dtype=np.float32), grid[4:], strides[4:]
        ).scores.size
        == 0
    )


def test_end2end_rows() -> None:
    out = np.array(
        [[1, 2, 3, 4, 0.9, 0], [5, 6, 7, 8, 0.3, 1], [0, 0, 10, 10, 0.8, 7]],
        dtype=np.float32,
    )
    decoded = decode_end2end(out, np.array([0.5, 0.5], dtype=np.float32), default=0.5)
    assert as_rows(decoded) == [
        (0, 0.9, [1.0, 2.0, 3.0, 4.0]),
        (7, 0.8, [0.0, 0.0, 10.0, 10.0]),
    ]
    # a class past the table uses the default: inf (allow-list) drops it
    strict = decode_end2end(out, np.array([0.5, 0.5], dtype=np.float32), default=np.inf)
    assert as_rows(strict) == [(0, 0.9, [1.0, 2.0, 3.0, 4.0])]


def test_detr_labels_boxes_scores() -> None:
    labels = np.array([2, 0], dtype=np.int64)
    boxes = np.array([[0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]], dtype=np.float32)
    scores = np.array([0.9, 0.1], dtype=np.float32)
    decoded = decode_detr(
        labels, boxes, scores, np.full(3, 0.5, np.float32), 0.5, (100.0, 50.0)
    )
    assert as_rows(decoded) == [(2, 0.9, [10.0, 10.0, 30.0, 20.0])]
    pixels = decode_detr(
        labels.astype(np.float32),
        boxes * 10,
        scores,
        np.full(3, 0.05, np.float32),
        0.5,
        (1.0, 1.0),
    )
    assert as_rows(pixels) == [
        (2, 0.9, [1.0, 2.0, 3.0, 4.0]),
        (0, 0.1, [0.0, 0.0, 10.0, 10.0]),
    ]


def test_detr_dense_normalised_cxcywh() -> None:
    out = np.array(
        [[0.5, 0.5, 0.2, 0.4, 0.1, 0.8], [0.1, 0.1, 0.1, 0.1, 0.2, 0.3]],
        dtype=np.float32,
    )
    decoded = decode_detr_dense(
        out, np.array([0.5, 0.5], dtype=np.float32), 2, width=100, height=50
    )
    assert as_rows(decoded) == [(1, 0.8, [40.0, 15.0, 60.0, 35.0])]
    assert (
        decode_detr_dense(
            out, np.array([0.9, 0.9], dtype=np.float32), 2, 100, 50
        ).scores.size
        == 0
    )


def test_lookup_thresholds_and_threshold_table() -> None:
    table = np.array([0.1, 0.2], dtype=np.float32)
    ids = np.array([-1, 0, 1, 5], dtype=np.int64)
    assert lookup_thresholds(table, ids, 0.7).tolist() == pytest.approx(
        [0.7, 0.1, 0.2, 0.7]
    )
    thresholds = Thresholds([0.3, 0.6], default=0.5)
    assert thresholds.columns(3).tolist() == pytest.approx([0.3, 0.6, 0.5])
    assert thresholds.columns(1).tolist() == pytest.approx([0.3])
    assert thresholds.columns(3) is thresholds.columns(3)
    assert thresholds.floor == pytest.approx(0.3)
    assert Thresholds([], default=0.4).floor == pytest.approx(0.4)


def test_box_helpers() -> None:
    assert cxcywh_to_xyxy(np.array([[10, 20, 4, 6]], dtype=np.float32)).tolist() == [
        [8, 17, 12, 23]
    ]
    iou = box_iou(
        np.array([[0, 0, 10, 10]]),
        np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]),
    )
    assert iou.tolist() == [pytest.approx([1.0, 1 / 3, 0.0])]
    assert box_iou(np.array([[0, 0, 0, 0]]), np.array([[0, 0, 0, 0]])).tolist() == [
        [0.0]
    ]


def test_nms_and_class_wise_nms() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]],
        dtype=np.float32,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.5, max_output=1).tolist() == [0]
    assert nms(boxes[:0], scores[:0], 0.5).tolist() == []
    classes = np.array([0, 0, 0, 1])
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 2, 3]
    assert batched_nms(boxes[:0], scores[:0], classes[:0], 0.5).tolist() == []
    assert sorted(select_top(scores, 2).tolist()) == [0, 1]
    assert select_top(scores, 10).tolist() == [0, 1, 2, 3]


def test_clamp_region() -> None:
    assert clamp_region(None, 100, 50) == (0, 0, 100, 50)
    assert clamp_region((10, 10, 20, 20), 100, 50) == (10, 10, 20, 20)
    assert clamp_region((90, 40, 20, 20), 100, 50) == (80, 30, 20, 20)  # moved inside
    assert clamp_region((-5, -5, 500, 500), 100, 50) == (
        0,
        0,
        100,
        50,
    )  # shrunk to the frame
    assert clamp_region((10, 10, 0, 0), 100, 50) == (10, 10, 1, 1)


def test_letterbox_transform_round_trip() -> None:
    frame = np.zeros((100, 200, 3), dtype=np.uint8)
    spec = PreprocessSpec(width=64, height=64)
    tensor, transform = prepare(spec, frame, (0, 0, 200, 100))
    assert tensor.shape == (1, 3, 64, 64)
    assert tensor.dtype == np.float32
    # scale 0.32 -> 64x32 image, 16 rows of padding (value 114/255) above and below
    assert transform.scale_x == pytest.approx(0.32)
    assert transform.pad_y == 16
    assert tensor[0, 0, 0, 0] == pytest.approx(114 / 255)
    assert tensor[0, 0, 32, 32] == 0.0
    back = transform.to_frame(
        np.array([[0, 16, 64, 48], [-10, 0, 70, 70]], dtype=np.float32)
    )
    assert back.tolist() == [[0, 0, 200, 100], [0, 0, 200, 100]]  # second one clipped


def test_region_transform_and_topleft_padding() -> None:
    frame = np.zeros((300, 400, 3), dtype=np.uint8)
    spec = PreprocessSpec(
        width=64, height=64, pad_align="topleft", rgb=False, scale=(1.0, 1.0, 1.0)
    )
    tensor, transform = prepare(spec, frame, (100, 50, 128, 64))
    assert tensor[0, 0, 63, 0] == 114.0  # padding at the bottom only
    assert tensor[0, 0, 0, 0] == 0.0
    assert (transform.pad_x, transform.pad_y) == (0, 0)
    box = transform.to_frame(np.array([[16, 8, 32, 24]], dtype=np.float32))
    assert box.tolist() == [[132, 66, 164, 98]]  # x2 scale, offset by the region


def test_resize_mode_and_layouts() -> None:
    frame = np.zeros((10, 20, 3), dtype=np.uint8)
    frame[..., 2] = 255  # red in BGR
    spec = PreprocessSpec(width=8, height=8, mode="resize", layout="NHWC")
    tensor, transform = prepare(spec, frame, (0, 0, 20, 10))
    assert tensor.shape == (1, 8, 8, 3)
    assert tensor[0, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0])  # RGB
    assert (transform.scale_x, transform.scale_y) == (0.4, 0.8)
    raw, _ = prepare(
        PreprocessSpec(width=20, height=10, dtype="uint8"), frame, (0, 0, 20, 10)
    )
    assert raw.dtype == np.uint8
    assert raw.shape == (1, 3, 10, 20)
    assert raw[0, :, 0, 0].tolist() == [255, 0, 0]
    nhwc, _ = prepare(
        PreprocessSpec(width=20, height=10, dtype="uint8", layout="NHWC", rgb=False),
        frame,
        (0, 0, 20, 10),
    )
    assert nhwc.shape == (1, 10, 20, 3)
    half, _ = prepare(
        PreprocessSpec(width=8, height=8, dtype="float16"), frame, (0, 0, 20, 10)
    )
    assert half.dtype == np.float16


def test_as_bgr() -> None:
    grey = np.zeros((4, 5), dtype=np.uint8)
    assert as_bgr(grey).shape == (4, 5, 3)
    bgra = np.zeros((4, 5, 4), dtype=np.uint8)
    assert as_bgr(bgra).shape == (4, 5, 3)
    bgr = np.zeros((4, 5, 3), dtype=np.uint8)
    assert as_bgr(bgr) is bgr
    with pytest.raises(ValueError, match="uint8"):
        as_bgr(np.zeros((4, 5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        as_bgr(np.zeros((4, 5, 2), dtype=np.uint8))
    with pytest.raises(TypeError):
        as_bgr([[1, 2]])  # type: ignore[arg-type]
