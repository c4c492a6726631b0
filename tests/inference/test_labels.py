"""Class names from metadata strings and labels files."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.camera_alerts.inference.labels import (
    COCO_80,
    find_labels_file,
    names_from_metadata,
    parse_names,
    read_labels_file,
)


def test_coco_80() -> None:
    assert len(COCO_80) == 80
    assert (COCO_80[0], COCO_80[1], COCO_80[16], COCO_80[79]) == (
        "person",
        "bicycle",
        "dog",
        "toothbrush",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{0: 'person', 1: 'bicycle'}", ["person", "bicycle"]),  # ultralytics
        ('{"0": "person", "2": "car"}', ["person", "class_1", "car"]),
        ('["a", "b"]', ["a", "b"]),
        ("('a', 'b')", ["a", "b"]),
        ("cat, dog, 'bird'", ["cat", "dog", "bird"]),
        ("cat\ndog\n", ["cat", "dog"]),
        ("", None),
        ("justone", None),
        ("{'a': 'x'}", None),
        ("{-1: 'x'}", None),
        ("{}", None),
        ("[]", None),
        ("42", None),
    ],
)
def test_parse_names(text: str, expected: list[str] | None) -> None:
    assert parse_names(text) == expected


def test_names_from_metadata() -> None:
    assert names_from_metadata({"names": "{0: 'a', 1: 'b'}"}) == ["a", "b"]
    assert names_from_metadata({"labels": "x,y"}) == ["x", "y"]
    assert names_from_metadata({"names": "", "classes": "p\nq"}) == ["p", "q"]
    assert names_from_metadata({"author": "me"}) is None


def test_labels_files(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("person\n\n# skip\ntraffic light\n")
    assert read_labels_file(plain) == ["person", "traffic light"]
    indexed = tmp_path / "indexed.txt"
    indexed.write_text("0  person\n1: bicycle\n3,motorcycle\n")
    assert read_labels_file(indexed) == ["person", "bicycle", "class_2", "motorcycle"]
    model = tmp_path / "m.onnx"
    assert find_labels_file(model) is None
    (tmp_path / "labels.txt").write_text("a\n")
    assert find_labels_file(model) == tmp_path / "labels.txt"
    (tmp_path / "m.onnx.labels").write_text("b\n")
    assert find_labels_file(model) == tmp_path / "m.onnx.labels"
    (tmp_path / "m.labels").write_text("c\n")
    assert find_labels_file(model) == tmp_path / "m.labels"
