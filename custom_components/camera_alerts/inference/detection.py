"""The detector's result type, shared by every backend and adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict


class BoundingBox(TypedDict):
    """A box in frame pixels: top-left corner plus size."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found in one frame."""

    class_id: int
    class_name: str
    confidence: float
    bbox: BoundingBox
    metadata: dict[str, Any] = field(default_factory=dict)
