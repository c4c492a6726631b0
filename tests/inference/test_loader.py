"""load_detector: adapter auto-selection on tiny synthetic ONNX models, options and errors."""

from __future__ import annotations

import math
import os
from pathlib import Path
import threading

import numpy as np
import pytest

from custom_components.camera_alerts.inference import (
    DEFAULT_MODEL_PATH,
    Detector,
    DetectorError,
    InvalidModelError,
    ModelNotFoundError,
    UnsupportedModelError,
    cached_session_count,
    default_threads,
    load_detector,
)
from custom_components.camera_alerts.inference.adapters import normalise_adapter_name

from .onnx_models import TensorProto, constant_model, detr_model

CELLS_64 = 64 + 16 + 4  # strides 8/16/32 over a 64x64 input


def boxes(detections: list) -> list[tuple[str, float, list[float]]]:
    return [
        (
            d.class_name,
            round(d.confidence, 3),
            [
                round(v, 2)
                for v in (
                    d.bbox["x"],
                    d.bbox["y"],
                    d.bbox["x"] + d.bbox["width"],
                    d.bbox["y"] + d.bbox["height"],
                )
            ],
        )
        for d in detections
    ]


def frame(width: int, height: int) -> np.ndarray:
    return np.zeros((height, width, 3), dtype=np.uint8)


NAMES3 = ["cat", "dog", "bird"]


# ----------------------------------------------------------------------------- builders


def nanodet_outputs(shuffle: bool = False) -> dict[str, np.ndarray]:
    counts = [64, 16, 4]
    outs: dict[str, np.ndarray] = {}
    scores = [np.zeros((1, n, 3), np.float32) for n in counts]
    dists = [np.full((1, n, 16), 0.0, np.float32) for n in counts]
    index = 2 * 8 + 3  # stride-8 level, row 2, col 3 -> centre (28, 20)
    scores[0][0, index, 1] = 0.9
    logits = np.zeros((4, 4), np.float32)
    for side, bin_ in enumerate([2, 1, 3, 2]):  # left 16, top 8, right 24, bottom 16
        logits[side, bin_] = 60.0
    dists[0][0, index] = logits.ravel()
    names = [f"Identity_{i}" if i else "Identity" for i in range(6)]
    for i in range(3):
        outs[names[i]] = scores[i]
        outs[names[i + 3]] = dists[i]
    if shuffle:
        outs = dict(reversed(list(outs.items())))
    return outs


def yolov8_output() -> np.ndarray:
    out = np.zeros((1, 7, CELLS_64), np.float32)
    out[0, :, 10] = [20, 30, 10, 20, 0.1, 0.2, 0.8]
    return out


def yolox_output() -> np.ndarray:
    out = np.zeros((1, CELLS_64, 8), np.float32)
    out[0, 19] = [0.5, 0.25, math.log(2), 0.0, 0.8, 0.0, 0.5, 1.0]
    return out


# ----------------------------------------------------------------------------- adapters


@pytest.mark.parametrize("shuffle", [False, True])
def test_nanodet_six_outputs(tmp_path: Path, shuffle: bool) -> None:
    path = constant_model(
        tmp_path / "nanodet.onnx", nanodet_outputs(shuffle), input_shape=(1, 3, 64, 64)
    )
    detector = load_detector(path, class_names=NAMES3)
    assert detector.adapter_name == "nanodet"
    assert detector.input_size == (64, 64)
    assert detector.adapter.spec.rgb is False  # NanoDet takes BGR
    # model box (12, 12, 52, 36); a 128x128 frame is scaled by 0.5
    assert boxes(detector.detect(frame(128, 128))) == [
        ("dog", 0.9, [24.0, 24.0, 104.0, 72.0])
    ]


def test_yolov8_letterbox(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "yolov8.onnx", {"output0": yolov8_output()})
    detector = load_detector(path, class_names=NAMES3)
    assert detector.adapter_name == "yolov8"
    # model box (15, 20, 25, 40); 128x64 frame -> scale 0.5, 16 rows of padding on top
    assert boxes(detector.detect(frame(128, 64))) == [
        ("bird", 0.8, [30.0, 8.0, 50.0, 48.0])
    ]


def test_yolov8_region_maps_back(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "yolov8.onnx", {"output0": yolov8_output()})
    detector = load_detector(path, class_names=NAMES3)
    found = detector.detect(frame(640, 480), region=(100, 200, 128, 128))
    assert boxes(found) == [("bird", 0.8, [130.0, 240.0, 150.0, 280.0])]


def test_yolov5_three_anchors_per_cell(tmp_path: Path) -> None:
    out = np.zeros((1, 3 * CELLS_64, 8), np.float32)
    out[0, 7] = [32, 32, 16, 8, 0.9, 0.1, 0.9, 0.2]
    path = constant_model(tmp_path / "yolov5.onnx", {"output": out})
    detector = load_detector(path, class_names=NAMES3)
    assert detector.adapter_name == "yolov5"
    assert boxes(detector.detect(frame(64, 64))) == [
        ("dog", 0.81, [24.0, 28.0, 40.0, 36.0])
    ]


def test_yolov5_with_raw_per_level_outputs(tmp_path: Path) -> None:
    out = np.zeros((1, 3 * CELLS_64, 8), np.float32)
    out[0, 7] = [32, 32, 16, 8, 0.9, 0.1, 0.9, 0.2]
    raw = np.zeros((1, 3, 8, 8, 8), np.float32)
    path = constant_model(tmp_path / "yolov5.onnx", {"output": out, "345": raw})
    detector = load_detector(path, class_names=NAMES3)
    assert detector.adapter_name == "yolov5"
    assert detector.adapter.output_names == ("output",)
    assert len(detector.detect(frame(64, 64))) == 1


def test_yolox_raw_grid_outputs(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "yolox.onnx", {"output": yolox_output()})
    detector = load_detector(path, class_names=NAMES3, score_threshold=0.5)
    assert detector.adapter_name == "yolox"
    assert detector.adapter.spec.pad_align == "topleft"
    # model box (20, 14, 36, 22); 128x64 frame -> scale 0.5, padding only at the bottom
    assert boxes(detector.detect(frame(128, 64))) == [
        ("bird", 0.8, [40.0, 28.0, 72.0, 44.0])
    ]


def test_yolox_shape_selection_by_metadata_and_option(tmp_path: Path) -> None:
    plain = constant_model(tmp_path / "a.onnx", {"output": yolox_output()})
    assert load_detector(plain, adapter="yolov5").adapter_name == "yolov5"
    ultra = constant_model(
        tmp_path / "b.onnx",
        {"output": yolox_output()},
        metadata={"author": "Ultralytics", "names": "{0: 'a', 1: 'b', 2: 'c'}"},
    )
    assert load_detector(ultra).adapter_name == "yolov5"
    hinted = constant_model(
        tmp_path / "c.onnx",
        {"output": yolox_output()},
        metadata={"camera_alerts_adapter": "yolov5"},
    )
    assert load_detector(hinted).adapter_name == "yolov5"
    # read as YOLOX, rows that match no YOLOX grid fail at load, not later
    anchors = np.zeros((1, 3 * CELLS_64, 8), np.float32)
    forced = constant_model(tmp_path / "d.onnx", {"output": anchors})
    with pytest.raises(UnsupportedModelError, match="yolox adapter"):
        load_detector(forced, adapter="yolox")


def test_end2end_yolov10(tmp_path: Path) -> None:
    out = np.zeros((1, 300, 6), np.float32)
    out[0, 0] = [10, 12, 30, 40, 0.9, 1]
    out[0, 1] = [0, 0, 5, 5, 0.2, 0]
    path = constant_model(tmp_path / "yolov10.onnx", {"output0": out})
    detector = load_detector(path, class_names=NAMES3)
    assert detector.adapter_name == "end2end"
    assert boxes(detector.detect(frame(64, 64))) == [
        ("dog", 0.9, [10.0, 12.0, 30.0, 40.0])
    ]


def test_detr_with_target_sizes(tmp_path: Path) -> None:
    labels = np.array([[2, 0, 1]], np.int64)
    norm = np.array(
        [[[0.25, 0.25, 0.5, 0.75], [0, 0, 1, 1], [0.5, 0.5, 0.75, 0.75]]], np.float32
    )
    scores = np.array([[0.9, 0.2, 0.6]], np.float32)
    path = detr_model(tmp_path / "rtdetr.onnx", labels, norm, scores)
    detector = load_detector(path, class_names=NAMES3)
    assert detector.adapter_name == "detr"
    assert detector.adapter.spec.mode == "resize"
    # fed orig_target_sizes = (64, 64): boxes (16, 16, 32, 48) and (32, 32, 48, 48);
    # a 128x64 frame is squashed: x / 0.5, y / 1
    assert boxes(detector.detect(frame(128, 64))) == [
        ("bird", 0.9, [32.0, 16.0, 64.0, 48.0]),
        ("dog", 0.6, [64.0, 32.0, 96.0, 48.0]),
    ]


def test_detr_without_target_sizes_normalised_boxes(tmp_path: Path) -> None:
    labels = np.array([[2]], np.int64)
    norm = np.array([[[0.25, 0.25, 0.5, 0.75]]], np.float32)
    path = detr_model(
        tmp_path / "dfine.onnx",
        labels,
        norm,
        np.array([[0.9]], np.float32),
        with_sizes=False,
    )
    detector = load_detector(path, class_names=NAMES3)
    assert detector.adapter_name == "detr"
    assert boxes(detector.detect(frame(64, 64))) == [
        ("bird", 0.9, [16.0, 16.0, 32.0, 48.0])
    ]


def test_detr_by_shape_and_dtype_when_names_differ(tmp_path: Path) -> None:
    outs = {
        "o1": np.array([[1]], np.int64),
        "o2": np.array([[[8, 8, 24, 24]]], np.float32),
        "o3": np.array([[0.7]], np.float32),
    }
    path = constant_model(tmp_path / "detr.onnx", outs)
    detector = load_detector(path, class_names=NAMES3)
    assert detector.adapter_name == "detr"
    assert boxes(detector.detect(frame(64, 64))) == [
        ("dog", 0.7, [8.0, 8.0, 24.0, 24.0])
    ]


def test_rtdetr_ultralytics(tmp_path: Path) -> None:
    out = np.zeros((1, 300, 7), np.float32)
    out[0, 0] = [0.5, 0.5, 0.25, 0.5, 0.1, 0.9, 0.2]
    meta = {
        "author": "Ultralytics",
        "names": "{0: 'cat', 1: 'dog', 2: 'bird'}",
        "task": "detect",
        "stride": "32",
    }
    path = constant_model(tmp_path / "rtdetr-l.onnx", {"output0": out}, metadata=meta)
    detector = load_detector(path)
    assert detector.adapter_name == "rtdetr_ultralytics"
    assert detector.class_names == ("cat", "dog", "bird")
    assert boxes(detector.detect(frame(64, 64))) == [
        ("dog", 0.9, [24.0, 16.0, 40.0, 48.0])
    ]


def test_dynamic_input_size_from_metadata_and_option(tmp_path: Path) -> None:
    meta = {
        "imgsz": "[64, 64]",
        "names": "{0: 'cat', 1: 'dog', 2: 'bird'}",
        "task": "detect",
    }
    path = constant_model(
        tmp_path / "dyn.onnx",
        {"output0": yolov8_output()},
        input_shape=("batch", 3, "height", "width"),
        output_shapes={"output0": ("batch", 7, "anchors")},
        metadata=meta,
    )
    detector = load_detector(path)
    assert detector.adapter_name == "yolov8"
    assert detector.input_size == (64, 64)
    assert boxes(detector.detect(frame(64, 64))) == [
        ("bird", 0.8, [15.0, 20.0, 25.0, 40.0])
    ]

    bare = constant_model(
        tmp_path / "dyn2.onnx",
        {"output0": yolov8_output()},
        input_shape=(1, 3, "h", "w"),
        output_shapes={"output0": (1, 7, "n")},
    )
    assert load_detector(bare, input_size=(64, 64)).input_size == (64, 64)
    assert load_detector(bare, warmup=False).input_size == (640, 640)


def test_static_input_size_wins_over_option(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()})
    assert load_detector(path, input_size=(320, 320)).input_size == (64, 64)
    assert "ignoring input_size" in caplog.text


def test_nhwc_uint8_and_float16_inputs(tmp_path: Path) -> None:
    nhwc = constant_model(
        tmp_path / "nhwc.onnx",
        {"output0": yolov8_output()},
        input_shape=(1, 64, 64, 3),
        input_type=TensorProto.UINT8,
    )
    detector = load_detector(nhwc, class_names=NAMES3)
    assert (detector.adapter.spec.layout, detector.adapter.spec.dtype) == (
        "NHWC",
        "uint8",
    )
    assert boxes(detector.detect(frame(64, 64))) == [
        ("bird", 0.8, [15.0, 20.0, 25.0, 40.0])
    ]
    half = constant_model(
        tmp_path / "half.onnx",
        {"output0": yolov8_output().astype(np.float16)},
        input_type=TensorProto.FLOAT16,
    )
    found = load_detector(half, class_names=NAMES3).detect(frame(64, 64))
    assert [d.class_name for d in found] == ["bird"]


# ----------------------------------------------------------------------------- filtering


def test_min_scores_allow_list_clipping_and_cap(tmp_path: Path) -> None:
    out = np.zeros((1, 7, CELLS_64), np.float32)
    out[0, :, 0] = [32, 32, 20, 20, 0.5, 0.0, 0.0]  # cat 0.5
    out[0, :, 1] = [10, 10, 40, 40, 0.0, 0.7, 0.0]  # dog 0.7, sticks out top-left
    out[0, :, 2] = [50, 50, 10, 10, 0.0, 0.0, 0.45]  # bird 0.45
    out[0, :, 3] = [20, 50, 10, 10, 0.0, 0.0, 0.9]  # bird 0.9
    path = constant_model(tmp_path / "m.onnx", {"output0": out})
    everything = load_detector(path, class_names=NAMES3, score_threshold=0.4)
    assert [
        (d.class_name, round(d.confidence, 2)) for d in everything.detect(frame(64, 64))
    ] == [
        ("bird", 0.9),
        ("dog", 0.7),
        ("cat", 0.5),
        ("bird", 0.45),
    ]
    dog = next(d for d in everything.detect(frame(64, 64)) if d.class_name == "dog")
    assert (dog.bbox["x"], dog.bbox["y"], dog.bbox["width"], dog.bbox["height"]) == (
        0.0,
        0.0,
        30.0,
        30.0,
    )

    picky = load_detector(
        path,
        class_names=NAMES3,
        score_threshold=0.4,
        min_scores={"bird": 0.5, "cat": 0.6},
    )
    assert [d.class_name for d in picky.detect(frame(64, 64))] == ["bird", "dog"]
    allow = load_detector(
        path, class_names=NAMES3, score_threshold=0.4, labels=["cat", "bird"]
    )
    assert [d.class_name for d in allow.detect(frame(64, 64))] == [
        "bird",
        "cat",
        "bird",
    ]
    capped = load_detector(
        path, class_names=NAMES3, score_threshold=0.4, max_detections=2
    )
    assert len(capped.detect(frame(64, 64))) == 2


def test_unknown_labels_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()})
    load_detector(path, class_names=NAMES3, labels=["unicorn"])
    assert "unicorn" in caplog.text


def test_class_names_sources(tmp_path: Path) -> None:
    meta = {"names": "{0: 'alpha', 1: 'beta', 2: 'gamma'}"}
    with_meta = constant_model(
        tmp_path / "meta.onnx", {"output0": yolov8_output()}, metadata=meta
    )
    assert load_detector(with_meta).class_names == ("alpha", "beta", "gamma")

    beside = constant_model(tmp_path / "beside.onnx", {"output0": yolov8_output()})
    (tmp_path / "beside.labels").write_text("one\ntwo\nthree\n")
    assert load_detector(beside).class_names == ("one", "two", "three")

    folder = tmp_path / "sub"
    folder.mkdir()
    shared = constant_model(folder / "model.onnx", {"output0": yolov8_output()})
    (folder / "labels.txt").write_text("0 person\n2 car\n")
    assert load_detector(shared).class_names == ("person", "class_1", "car")

    labels_file = tmp_path / "my.txt"
    labels_file.write_text("# comment\n0: x\n1: y\n2: z\n")
    assert load_detector(shared, labels_file=labels_file).class_names == ("x", "y", "z")
    assert load_detector(shared, class_names=["p", "q"]).class_names == (
        "p",
        "q",
        "class_2",
    )

    default = constant_model(tmp_path / "coco.onnx", {"output0": yolov8_output()})
    assert load_detector(default).class_names[:3] == ("person", "bicycle", "car")


# ----------------------------------------------------------------------------- errors


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not found") as err:
        load_detector(tmp_path / "nope.onnx")
    assert isinstance(err.value, DetectorError)
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(ModelNotFoundError, match="not a file"):
        load_detector(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_model(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    path = tmp_path / "locked.onnx"
    path.write_bytes(b"x" * 100)
    path.chmod(0)
    with pytest.raises(ModelNotFoundError, match="not readable"):
        load_detector(path)


def test_text_file_empty_file_and_truncated_model(tmp_path: Path) -> None:
    text = tmp_path / "model.onnx"
    text.write_text("this is not a model, it is a note about a model\n" * 5)
    with pytest.raises(InvalidModelError, match="Cannot load"):
        load_detector(text)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InvalidModelError, match="not an ONNX model"):
        load_detector(empty)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(DEFAULT_MODEL_PATH.read_bytes()[:200_000])
    with pytest.raises(InvalidModelError) as err:
        load_detector(truncated)
    assert isinstance(err.value, DetectorError)


def test_unsupported_rank2_output(tmp_path: Path) -> None:
    path = constant_model(
        tmp_path / "classifier.onnx", {"logits": np.zeros((1, 7), np.float32)}
    )
    with pytest.raises(UnsupportedModelError) as err:
        load_detector(path)
    message = str(err.value)
    assert "images float[1, 3, 64, 64]" in message
    assert "logits float[1, 7]" in message
    assert isinstance(err.value, DetectorError)
    assert [o.name for o in err.value.outputs] == ["logits"]


@pytest.mark.parametrize(
    ("outputs", "match"),
    [
        ({"out": np.zeros((1, 100, 85), np.float32)}, "match no grid"),
        (
            {
                "a": np.zeros((1, 10, 4), np.float32),
                "b": np.zeros((1, 10, 5), np.float32),
            },
            "not a known detector layout",
        ),
        ({"out": np.zeros((1, 3, 84), np.float32)}, "too few"),
        ({"out": np.zeros((1, 84, 4), np.float32)}, "too short"),
    ],
)
def test_unsupported_weird_outputs(
    tmp_path: Path, outputs: dict[str, np.ndarray], match: str
) -> None:
    path = constant_model(tmp_path / "weird.onnx", outputs)
    with pytest.raises(UnsupportedModelError, match=match):
        load_detector(path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (1, 3, 64)}, "rank 4"),
        ({"input_shape": (1, 4, 64, 64)}, "3-channel"),
        ({"input_shape": (2, 3, 64, 64)}, "fixed batch"),
        ({"input_type": TensorProto.INT32}, "element type"),
        ({"metadata": {"task": "classify"}}, "not object detection"),
        ({"extra_inputs": [("scale", TensorProto.FLOAT, [1])]}, "extra inputs"),
    ],
)
def test_unsupported_inputs(tmp_path: Path, kwargs: dict, match: str) -> None:
    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()}, **kwargs)
    with pytest.raises(UnsupportedModelError, match=match):
        load_detector(path)


def test_dynamic_output_without_fixed_dims(tmp_path: Path) -> None:
    path = constant_model(
        tmp_path / "m.onnx",
        {"out": np.zeros((1, 10, 8), np.float32)},
        output_shapes={"out": ("b", "n", "k")},
    )
    with pytest.raises(UnsupportedModelError, match="no fixed dimensions"):
        load_detector(path)


def test_dynamic_rows_are_read_by_row_length(tmp_path: Path) -> None:
    e2e = np.zeros((1, 5, 6), np.float32)
    e2e[0, 0] = [1, 1, 9, 9, 0.9, 0]
    path = constant_model(
        tmp_path / "e2e.onnx", {"out": e2e}, output_shapes={"out": (1, "n", 6)}
    )
    assert load_detector(path).adapter_name == "end2end"
    v5 = constant_model(
        tmp_path / "v5.onnx",
        {"out": np.zeros((1, 5, 8), np.float32)},
        output_shapes={"out": (1, "n", 8)},
    )
    assert load_detector(v5).adapter_name == "yolov5"
    x = constant_model(
        tmp_path / "x.onnx",
        {"out": yolox_output()},
        output_shapes={"out": (1, "n", 8)},
        metadata={"arch": "yolox-s"},
    )
    assert load_detector(x).adapter_name == "yolox"
    short = constant_model(
        tmp_path / "s.onnx",
        {"out": np.zeros((1, 5, 4), np.float32)},
        output_shapes={"out": (1, "n", 4)},
    )
    with pytest.raises(UnsupportedModelError, match="too short"):
        load_detector(short)


@pytest.mark.parametrize(
    ("adapter", "actual", "match"),
    [
        ("yolov8", (1, 3, 84), "channels"),
        ("yolov5", (1, 10, 3), "rows of 3 values"),
        ("end2end", (1, 10, 5), "need 6"),
        ("yolox", (1, 10, 8), "rows do not match"),
        ("rtdetr_ultralytics", (1, 10, 4), "classes"),
    ],
)
def test_output_that_breaks_its_adapter_fails_at_load(
    tmp_path: Path, adapter: str, actual: tuple[int, ...], match: str
) -> None:
    # The declared shape says little; the real output does not fit: caught by the warm-up.
    path = constant_model(
        tmp_path / "liar.onnx",
        {"out": np.zeros(actual, np.float32)},
        output_shapes={"out": (1, "n", "k")},
    )
    with pytest.raises(
        UnsupportedModelError,
        match=f"{adapter} adapter: unexpected output at run time.*{match}",
    ):
        load_detector(path, adapter=adapter)


def test_decode_checks_what_it_is_given(tmp_path: Path) -> None:
    v8 = load_detector(
        constant_model(tmp_path / "v8.onnx", {"output0": yolov8_output()})
    )
    with pytest.raises(UnsupportedModelError, match="one batch-1 rank-3 tensor"):
        v8.adapter.decode([np.zeros((1, 5), np.float32)], v8.thresholds)
    nano = load_detector(constant_model(tmp_path / "nano.onnx", nanodet_outputs()))
    with pytest.raises(UnsupportedModelError, match="expected 6 outputs"):
        nano.adapter.decode([np.zeros((1, 5, 3), np.float32)], nano.thresholds)
    wrong_rows = [
        np.zeros((1, 10, 3), np.float32),
        np.zeros((1, 10, 16), np.float32),
    ] * 3
    with pytest.raises(UnsupportedModelError, match="score rows"):
        nano.adapter.decode(wrong_rows, nano.thresholds)
    detr = load_detector(
        detr_model(
            tmp_path / "detr.onnx",
            np.array([[0]]),
            np.zeros((1, 1, 4), np.float32),
            np.zeros((1, 1), np.float32),
        )
    )
    with pytest.raises(UnsupportedModelError, match="expected 3 outputs"):
        detr.adapter.decode([np.zeros((1, 1))], detr.thresholds)
    with pytest.raises(UnsupportedModelError, match="labels"):
        detr.adapter.decode(
            [np.zeros((1, 2)), np.zeros((1, 1, 4)), np.zeros((1, 1))], detr.thresholds
        )


@pytest.mark.parametrize(
    ("adapter", "outputs", "match"),
    [
        ("end2end", {"output": yolox_output()}, "not 6"),
        ("nanodet", {"output": yolox_output()}, "nanodet adapter requested"),
        ("detr", {"output": yolox_output()}, "detr adapter requested"),
        ("yolov8", {"output": np.zeros((1, 4, 84), np.float32)}, "only 4 channels"),
        ("yolox", {"output": np.zeros((1, 84, 5), np.float32)}, "only 5 values"),
        (
            "yolov5",
            {
                "a": np.zeros((1, 84, 8), np.float32),
                "b": np.zeros((1, 84, 8), np.float32),
            },
            "exactly one rank-3",
        ),
    ],
)
def test_requested_adapter_that_does_not_fit(
    tmp_path: Path, adapter: str, outputs: dict, match: str
) -> None:
    path = constant_model(tmp_path / "m.onnx", outputs)
    with pytest.raises(UnsupportedModelError, match=match):
        load_detector(path, adapter=adapter)


def test_requested_adapter_with_extra_inputs(tmp_path: Path) -> None:
    path = constant_model(
        tmp_path / "m.onnx",
        {"output": yolox_output()},
        extra_inputs=[("scale", TensorProto.FLOAT, [1, 2])],
    )
    with pytest.raises(UnsupportedModelError, match="extra inputs"):
        load_detector(path, adapter="yolox")


def test_adapter_names_and_aliases() -> None:
    assert normalise_adapter_name("YOLO11") == "yolov8"
    assert normalise_adapter_name("yolov7") == "yolov5"
    assert normalise_adapter_name("YOLOv10") == "end2end"
    assert normalise_adapter_name("D-FINE") == "detr"
    assert normalise_adapter_name("rtdetr_ultralytics") == "rtdetr_ultralytics"
    with pytest.raises(ValueError, match="unknown adapter"):
        normalise_adapter_name("resnet")


def test_bad_thread_count() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        load_detector(intra_op_num_threads=0)


def test_bad_frames(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()})
    detector = load_detector(path)
    with pytest.raises(ValueError, match="empty"):
        detector.detect(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((10, 10, 3), np.float32))


def test_inference_failure_is_a_detector_error(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()})
    detector = load_detector(path)
    prepared = detector.prepare(frame(64, 64))
    prepared.feeds["images"] = np.zeros((1, 3, 32, 32), np.float32)
    with pytest.raises(DetectorError, match="Inference failed"):
        detector.run(prepared)


# ----------------------------------------------------------------------------- sessions


def test_sessions_are_shared_per_path_and_options(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()})
    first = load_detector(path, class_names=NAMES3, labels=["cat"])
    second = load_detector(str(path), class_names=NAMES3, min_scores={"dog": 0.9})
    assert first.session is second.session
    assert first.model_path == path.resolve()
    assert cached_session_count() == 1
    other = load_detector(path, intra_op_num_threads=1)
    assert other.session is not first.session
    assert cached_session_count() == 2
    assert "adapter=yolov8" in repr(first)


def test_replaced_file_gets_a_new_session(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()})
    first = load_detector(path)
    stat = path.stat()
    constant_model(path, {"output0": yolov8_output() * 0.5})
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    second = load_detector(path)
    assert second.session is not first.session
    assert cached_session_count() == 1  # the stale entry was dropped


def test_concurrent_loads_create_one_session(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()})
    # The detectors are kept, as cameras keep theirs: a model is shared while used.
    detectors: list[Detector] = []
    lock = threading.Lock()

    def load() -> None:
        detector = load_detector(path, warmup=False)
        with lock:
            detectors.append(detector)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(detectors) == 6
    assert len({id(d.session) for d in detectors}) == 1


def test_default_threads() -> None:
    assert 1 <= default_threads() <= 2


# ----------------------------------------------------------------------------- more selection paths


def _pairs(
    counts: list[int], score_k: list[int], dist_k: list[int]
) -> dict[str, np.ndarray]:
    outs: dict[str, np.ndarray] = {}
    for i, n in enumerate(counts):
        outs[f"s{i}"] = np.zeros((1, n, score_k[i]), np.float32)
    for i, n in enumerate(counts):
        outs[f"d{i}"] = np.zeros((1, n, dist_k[i]), np.float32)
    return outs


@pytest.mark.parametrize(
    ("outputs", "shapes", "match"),
    [
        (_pairs([64, 16], [3, 3], [16, 16]), {"s0": (1, "n", 3)}, "fixed n, k"),
        (
            {
                "a": np.zeros((1, 64, 3)),
                "b": np.zeros((1, 16, 3)),
                "c": np.zeros((1, 4, 3)),
                "d": np.zeros((1, 1, 3)),
            },
            None,
            "pair up",
        ),
        (_pairs([64, 16], [3, 3], [5, 5]), None, "no distance-distribution"),
        (_pairs([64, 16], [3, 2], [16, 16]), None, "disagree"),
        (_pairs([50, 16], [3, 3], [16, 16]), None, "not a grid"),
        ({"a": np.zeros((1, 64, 3))}, None, "even number"),
    ],
)
def test_nanodet_requested_but_outputs_do_not_fit(
    tmp_path: Path, outputs: dict[str, np.ndarray], shapes: dict | None, match: str
) -> None:
    outputs = {k: v.astype(np.float32) for k, v in outputs.items()}
    path = constant_model(tmp_path / "m.onnx", outputs, output_shapes=shapes)
    with pytest.raises(
        UnsupportedModelError, match=f"nanodet adapter requested, but .*{match}"
    ):
        load_detector(path, adapter="nanodet")


def test_requested_nanodet_and_detr_that_fit(tmp_path: Path) -> None:
    nano = constant_model(tmp_path / "n.onnx", nanodet_outputs())
    assert load_detector(nano, adapter="gfl").adapter_name == "nanodet"
    detr = detr_model(
        tmp_path / "d.onnx",
        np.array([[0]]),
        np.zeros((1, 1, 4), np.float32),
        np.zeros((1, 1), np.float32),
    )
    assert load_detector(detr, adapter="rtdetr").adapter_name == "detr"


@pytest.mark.parametrize(
    ("outputs", "extra", "match"),
    [
        (
            {
                "labels": np.zeros((1, 5), np.int64),
                "boxes": np.zeros((1, 5, 4), np.float32),
                "scores": np.zeros((1, 5), np.float32),
            },
            [("a", TensorProto.INT64, [1, 2]), ("b", TensorProto.INT64, [1, 2])],
            "extra inputs",
        ),
        (
            {
                "o1": np.zeros((1, 5), np.float32),
                "o2": np.zeros((1, 5, 4), np.float32),
                "o3": np.zeros((1, 5), np.float32),
            },
            [],
            "are not labels",
        ),
        (
            {
                "labels": np.zeros((1, 5), np.int64),
                "boxes": np.zeros((1, 5, 5), np.float32),
                "scores": np.zeros((1, 5), np.float32),
            },
            [],
            "not \\[1, N, 4\\]",
        ),
        (
            {
                "labels": np.zeros((1, 5, 1), np.int64),
                "boxes": np.zeros((1, 5, 4), np.float32),
                "scores": np.zeros((1, 5), np.float32),
            },
            [],
            "not \\[1, N\\]",
        ),
        ({"labels": np.zeros((1, 5), np.int64)}, [], "three outputs"),
    ],
)
def test_detr_requested_but_outputs_do_not_fit(
    tmp_path: Path, outputs: dict, extra: list, match: str
) -> None:
    path = constant_model(tmp_path / "m.onnx", outputs, extra_inputs=extra)
    with pytest.raises(
        UnsupportedModelError, match=f"detr adapter requested, but .*{match}"
    ):
        load_detector(path, adapter="detr")


def test_rtdetr_ultralytics_forced_without_names(tmp_path: Path) -> None:
    out = np.zeros((1, 300, 7), np.float32)
    out[0, 0] = [0.5, 0.5, 0.25, 0.5, 0.1, 0.9, 0.2]
    path = constant_model(tmp_path / "m.onnx", {"output0": out})
    detector = load_detector(path, adapter="rtdetr_ultralytics", class_names=NAMES3)
    assert detector.adapter.num_classes == 3
    assert boxes(detector.detect(frame(64, 64))) == [
        ("dog", 0.9, [24.0, 16.0, 40.0, 48.0])
    ]


def test_fully_dynamic_image_input_and_metadata_sizes(tmp_path: Path) -> None:
    path = constant_model(
        tmp_path / "m.onnx",
        {"output0": yolov8_output()},
        input_shape=("b", "c", "h", "w"),
        metadata={"imgsz": "64"},
    )
    detector = load_detector(path)
    assert (detector.adapter.spec.layout, detector.input_size) == ("NCHW", (64, 64))
    broken = constant_model(
        tmp_path / "n.onnx",
        {"output0": yolov8_output()},
        input_shape=(1, 3, "h", "w"),
        metadata={"imgsz": "not a size", "input_size": "[64, 64]"},
    )
    assert load_detector(broken).input_size == (64, 64)


def test_top_k_before_nms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from custom_components.camera_alerts.inference import detector as detector_module

    out = np.zeros((1, 7, CELLS_64), np.float32)
    for i in range(20):
        out[0, :, i] = [5 + 3 * i, 32, 2, 2, 0.5 + 0.01 * i, 0, 0]
    path = constant_model(tmp_path / "m.onnx", {"output0": out})
    monkeypatch.setattr(detector_module, "PRE_NMS_TOP_K", 5)
    found = load_detector(path, class_names=NAMES3).detect(frame(64, 64))
    assert [round(d.confidence, 2) for d in found] == [0.69, 0.68, 0.67, 0.66, 0.65]


def test_model_that_fails_to_run_is_invalid(tmp_path: Path) -> None:
    from .onnx_models import helper, numpy_helper, save

    shape = numpy_helper.from_array(np.array([1, 7, -1], np.int64), name="shape")
    nodes = [
        helper.make_node("Constant", [], ["shape_c"], value=shape),
        helper.make_node(
            "Reshape", ["images", "shape_c"], ["output0"]
        ),  # 12288 is not a multiple of 7
    ]
    path = save(
        tmp_path / "m.onnx",
        nodes,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 7, "n"])],
    )
    with pytest.raises(InvalidModelError, match="fails to run on a blank frame"):
        load_detector(path, input_size=(64, 64))
    assert (
        load_detector(path, input_size=(64, 64), warmup=False).adapter_name == "yolov8"
    )


def test_second_loader_waits_for_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custom_components.camera_alerts.inference import backend

    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()})
    real_create = backend._create
    started = threading.Event()
    release = threading.Event()
    calls: list[Path] = []

    def slow_create(
        model: Path, options: backend.SessionOptions
    ) -> backend.LoadedSession:
        calls.append(model)
        started.set()
        release.wait(5)
        return real_create(model, options)

    monkeypatch.setattr(backend, "_create", slow_create)
    options = backend.SessionOptions(intra_op_num_threads=1)
    results: list[backend.LoadedSession] = []
    first = threading.Thread(
        target=lambda: results.append(backend.get_session(path, options))
    )
    first.start()
    assert started.wait(5)
    second = threading.Thread(
        target=lambda: results.append(backend.get_session(path, options))
    )
    second.start()
    second.join(0.2)  # blocked on the per-model load lock
    release.set()
    first.join()
    second.join()
    assert len(calls) == 1
    assert results[0] is results[1]
