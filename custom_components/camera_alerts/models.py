"""Plain data shared across the integration (no Home Assistant imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from .inference.detection import BoundingBox, Detection

__all__ = [
    "BoundingBox",
    "Detection",
    "DetectionEvent",
    "EventType",
    "RelativeBox",
]


class EventType(StrEnum):
    """Lifecycle step of a tracked object."""

    NEW = "new"
    UPDATE = "update"
    END = "end"


class RelativeBox(TypedDict):
    """A box normalised to 0..1 of the frame."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class DetectionEvent:
    """One `camera_alerts_detection` event: the public contract in DESIGN.md."""

    camera: str
    entity_id: str | None
    label: str
    class_id: int
    score: float
    box: RelativeBox
    frame_width: int
    frame_height: int
    track_id: int
    type: EventType
    event_id: str
    timestamp: datetime
    zones: list[str] = field(default_factory=list)
    snapshot: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable event data fired on the bus and sent to sinks."""
        return {
            "camera": self.camera,
            "entity_id": self.entity_id,
            "label": self.label,
            "class_id": self.class_id,
            "score": round(self.score, 4),
            "box": {
                "x": round(self.box["x"], 5),
                "y": round(self.box["y"], 5),
                "width": round(self.box["width"], 5),
                "height": round(self.box["height"], 5),
            },
            "frame_width": self.frame_width,
            "frame_height": self.frame_height,
            "track_id": self.track_id,
            "type": str(self.type),
            "event_id": self.event_id,
            "timestamp": self.timestamp.isoformat(),
            "zones": list(self.zones),
            "snapshot": self.snapshot,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectionEvent:
        """Rebuild an event from `as_dict` output (used by the persistent outbox)."""
        box = data["box"]
        return cls(
            camera=data["camera"],
            entity_id=data.get("entity_id"),
            label=data["label"],
            class_id=int(data["class_id"]),
            score=float(data["score"]),
            box=RelativeBox(
                x=float(box["x"]),
                y=float(box["y"]),
                width=float(box["width"]),
                height=float(box["height"]),
            ),
            frame_width=int(data["frame_width"]),
            frame_height=int(data["frame_height"]),
            track_id=int(data["track_id"]),
            type=EventType(data["type"]),
            event_id=data["event_id"],
            timestamp=datetime.fromisoformat(data["timestamp"]),
            zones=list(data.get("zones", [])),
            snapshot=data.get("snapshot"),
        )
