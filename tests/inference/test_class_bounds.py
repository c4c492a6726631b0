"""Class lists are bounded: a stray huge index cannot pad them until memory runs out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from custom_components.camera_alerts.inference import (
    InvalidModelError,
    UnsupportedModelError,
    load_detector,
    load_remote_detector,
)
from custom_components.camera_alerts.inference.labels import (
    MAX_CLASSES,
    parse_names,
    read_labels_file,
)

from ..kserve_server import KServeServer
from .onnx_models import constant_model


def test_max_classes_leaves_room_for_real_models() -> None:
    """Open Images (600), LVIS (1,203) and Objects365 fit with room to spare."""
    assert MAX_CLASSES == 10_000


def test_labels_file_with_a_huge_index(tmp_path: Path) -> None:
    """`99999999 x` is refused with a clear error, not padded to a hundred million names."""
    labels = tmp_path / "labels.txt"
    labels.write_text(f"0 person\n{MAX_CLASSES - 1} toothbrush\n", encoding="utf-8")
    names = read_labels_file(labels)
    assert len(names) == MAX_CLASSES
    assert (names[0], names[1], names[-1]) == ("person", "class_1", "toothbrush")

    for index in (MAX_CLASSES, 99_999_999):
        labels.write_text(f"0 person\n{index} x\n", encoding="utf-8")
        with pytest.raises(InvalidModelError, match=f"{index}"):
            read_labels_file(labels)


@pytest.mark.parametrize(
    "text",
    [
        f"{{0: 'person', {MAX_CLASSES}: 'x'}}",
        '{"0": "person", "99999999": "x"}',
    ],
)
def test_metadata_with_a_huge_index_is_not_used(text: str) -> None:
    assert parse_names(text) is None


def _yolov5_model(path: Path, classes: int) -> Path:
    """A YOLOv5-shaped model ([1, N, 5 + C]) that declares `classes` classes."""
    return constant_model(path, {"output0": np.zeros((1, 4, 5 + classes), np.float32)})


def test_a_model_declaring_too_many_classes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="10001 classes"):
        load_detector(_yolov5_model(tmp_path / "m.onnx", MAX_CLASSES + 1), adapter="yolov5")
    fits = load_detector(_yolov5_model(tmp_path / "ok.onnx", 90), adapter="yolov5")
    assert len(fits.class_names) == 90


@pytest.mark.xdist_group("kserve")
@pytest.mark.usefixtures("socket_enabled")
def test_a_server_declaring_too_many_classes_is_refused(tmp_path: Path) -> None:
    """The class count a remote server states is bounded the same way."""
    model = _yolov5_model(tmp_path / "huge.onnx", MAX_CLASSES + 1)
    with KServeServer(model, "huge") as server:
        with pytest.raises(UnsupportedModelError, match="10001 classes"):
            load_remote_detector(server.url, "huge", adapter="yolov5")
