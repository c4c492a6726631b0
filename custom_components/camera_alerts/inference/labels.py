"""Class names: the COCO-80 default, names stored in ONNX metadata, labels files."""

from __future__ import annotations

import ast
from collections.abc import Mapping
import json
from pathlib import Path
import re

from .errors import InvalidModelError

COCO_80: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
    "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
    "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup",
    "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip

# Metadata keys that may carry class names, most specific first.
NAME_KEYS = ("names", "labels", "classes", "class_names")
# Indices (and declared class counts) at or beyond this are refused: lists are
# padded up to the largest index, so `99999999 x` would take gigabytes. Real
# detectors stay far below (Open Images 600, LVIS 1,203, Objects365 365).
MAX_CLASSES = 10_000

_INDEXED_LINE = re.compile(r"^\s*(\d+)\s*[:=,\s]\s*(.+?)\s*$")


def _from_mapping(mapping: Mapping[object, object]) -> list[str] | None:
    """Turn ``{0: "person", "1": "bicycle"}`` into a dense list ordered by index."""
    indexed: dict[int, str] = {}
    for key, value in mapping.items():
        try:
            index = int(str(key))
        except ValueError:
            return None
        indexed[index] = str(value)
    if not indexed or min(indexed) < 0 or max(indexed) >= MAX_CLASSES:
        return None
    return [indexed.get(i, f"class_{i}") for i in range(max(indexed) + 1)]


def parse_names(text: str) -> list[str] | None:
    """Parse a names value from model metadata.

    Accepts the Python-dict string that YOLO/ultralytics exports carry
    (``"{0: 'person', 1: 'bicycle'}"``), JSON objects or lists, and plain
    comma- or newline-separated lists. Returns None when nothing usable is found.
    """
    text = text.strip()
    if not text:
        return None
    value: object = None
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        break
    if isinstance(value, Mapping):
        return _from_mapping(value)
    if isinstance(value, list | tuple):
        names = [str(item) for item in value]
        return names or None
    separator = "\n" if "\n" in text else ","
    names = [part.strip().strip("'\"") for part in text.split(separator)]
    names = [name for name in names if name]
    return names if len(names) > 1 else None


def names_from_metadata(metadata: Mapping[str, str]) -> list[str] | None:
    """Class names from ONNX custom metadata, if the model states them."""
    for key in NAME_KEYS:
        if key in metadata:
            names = parse_names(metadata[key])
            if names:
                return names
    return None


def read_labels_file(path: Path) -> list[str]:
    """Read a labels file: one name per line, optionally prefixed by its index.

    ``person``, ``0 person``, ``0: person`` and ``0,person`` lines all work
    (the last three are the Frigate/TF label-map forms). Blank lines and lines
    starting with ``#`` are skipped.
    """
    lines = [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    matches = [_INDEXED_LINE.match(line) for line in lines]
    if lines and all(matches):
        indexed = {int(m.group(1)): m.group(2) for m in matches if m}
        if max(indexed) >= MAX_CLASSES:
            raise InvalidModelError(
                f"{path.name} names class {max(indexed)}; at most {MAX_CLASSES} "
                "classes (0 to 9999) are supported"
            )
        return [indexed.get(i, f"class_{i}") for i in range(max(indexed) + 1)]
    return lines


def find_labels_file(model_path: Path) -> Path | None:
    """Return ``<model>.labels`` or ``labels.txt`` beside the model, if present."""
    for candidate in (
        model_path.with_suffix(".labels"),
        model_path.with_name(model_path.name + ".labels"),
        model_path.with_name("labels.txt"),
    ):
        if candidate.is_file():
            return candidate
    return None
