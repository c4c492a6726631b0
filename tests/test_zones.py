"""Zones and motion masks: validation and membership."""

from __future__ import annotations

import pytest

from custom_components.camera_alerts.pipeline.zones import (
    ZoneError,
    parse_mask,
    parse_zones,
    zones_for_box,
)

GATE = {"gate": [[0.0, 0.5], [0.4, 0.5], [0.4, 1.0], [0.0, 1.0]]}
TRIANGLE = {"drive": [[0.5, 0.2], [1.0, 1.0], [0.0, 1.0]]}


def test_object_is_in_the_zone_where_it_stands() -> None:
    zones = parse_zones(GATE | TRIANGLE)
    # A person whose feet are in the gate, head above it.
    assert zones_for_box(zones, 0.1, 0.2, 0.1, 0.6) == ["gate", "drive"]
    # Feet in the drive only.
    assert zones_for_box(zones, 0.55, 0.3, 0.1, 0.6) == ["drive"]
    # Feet above both zones.
    assert zones_for_box(zones, 0.1, 0.0, 0.1, 0.1) == []


@pytest.mark.parametrize(
    "raw",
    [
        {"a": [[0, 0], [1, 0]]},
        {"a": [[0, 0], [1, 0], [2, 1]]},
        {"a": [[0, 0], [1, 0], ["x", 1]]},
        {"a": [[0, 0], [1, 0], [1]]},
        {"a": "0,0 1,0 1,1"},
        {"a": [[0, 0], [1, 0], [True, 1]]},
        ["not", "a", "mapping"],
    ],
)
def test_bad_zones_are_refused(raw: object) -> None:
    with pytest.raises(ZoneError):
        parse_zones(raw)  # type: ignore[arg-type]


def test_masks() -> None:
    assert parse_mask(None) == ()
    assert parse_mask([[[0, 0], [1, 0], [1, 0.1]]]) == (((0.0, 0.0), (1.0, 0.0), (1.0, 0.1)),)
    with pytest.raises(ZoneError):
        parse_mask("everything")  # type: ignore[arg-type]
    with pytest.raises(ZoneError):
        parse_mask([[[0, 0], [1, 1]]])
