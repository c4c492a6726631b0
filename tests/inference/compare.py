"""Comparing detections between backends: boxes as xyxy and their overlap."""

from __future__ import annotations

from custom_components.camera_alerts.inference import Detection
from custom_components.camera_alerts.pipeline.tracker import box_iou

Box = tuple[float, float, float, float]


def xyxy(detection: Detection) -> Box:
    """The detection's box as (x1, y1, x2, y2) in frame pixels."""
    box = detection.bbox
    return (box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])


def detection_iou(a: Detection, b: Detection) -> float:
    """Intersection over union of two detections' boxes."""
    return box_iou(xyxy(a), xyxy(b))
