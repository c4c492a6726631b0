"""Zones and masks: polygons in frame-relative coordinates (0..1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]


class ZoneError(ValueError):
    """A zone or mask definition that cannot be used."""


@dataclass(frozen=True, slots=True)
class Zone:
    """A named polygon; an object is in it when its bottom-centre is inside."""

    name: str
    polygon: tuple[Point, ...]

    def contains(self, x: float, y: float) -> bool:
        """Return True when the relative point lies inside the polygon (ray casting)."""
        inside = False
        points = self.polygon
        j = len(points) - 1
        for i, (xi, yi) in enumerate(points):
            xj, yj = points[j]
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside


def parse_polygon(raw: Any, what: str) -> tuple[Point, ...]:
    """Validate one polygon: at least three [x, y] points within 0..1."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) < 3:
        raise ZoneError(f"{what}: a polygon needs at least three [x, y] points")
    points: list[Point] = []
    for point in raw:
        if (
            not isinstance(point, Sequence)
            or isinstance(point, str)
            or len(point) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        ):
            raise ZoneError(f"{what}: each point must be [x, y]")
        x, y = float(point[0]), float(point[1])
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ZoneError(f"{what}: coordinates are fractions of the frame (0..1)")
        points.append((x, y))
    return tuple(points)


def parse_zones(raw: Mapping[str, Any] | None) -> tuple[Zone, ...]:
    """Validate `{name: [[x, y], ...]}` into zones."""
    if not raw:
        return ()
    if not isinstance(raw, Mapping):
        raise ZoneError("zones must map a name to a polygon")
    return tuple(
        Zone(name=str(name), polygon=parse_polygon(polygon, f"zone {name}"))
        for name, polygon in raw.items()
    )


def parse_mask(raw: Sequence[Any] | None) -> tuple[tuple[Point, ...], ...]:
    """Validate a motion mask: a list of polygons where motion is ignored."""
    if not raw:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ZoneError("a motion mask is a list of polygons")
    return tuple(parse_polygon(polygon, "motion mask") for polygon in raw)


def zones_for_box(
    zones: Sequence[Zone], box_x: float, box_y: float, box_w: float, box_h: float
) -> list[str]:
    """Return the zones holding a relative box's bottom-centre (where it stands)."""
    foot_x = box_x + box_w / 2
    foot_y = box_y + box_h
    return [zone.name for zone in zones if zone.contains(foot_x, foot_y)]
