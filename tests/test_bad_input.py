"""Bad input never hurts: property-based checks of what users type and send."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import voluptuous as vol

from custom_components.camera_alerts.camera_runtime import parse_label_scores
from custom_components.camera_alerts.pipeline.url import (
    InvalidUrlError,
    redact_url,
    source_target,
)
from custom_components.camera_alerts.pipeline.zones import (
    ZoneError,
    parse_mask,
    parse_zones,
)
from custom_components.camera_alerts.services import (
    CONTROL_SCHEMA,
    DETECT_SCHEMA,
    SEND_SERIAL_SCHEMA,
)

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


@SETTINGS
@given(st.text(max_size=80))
def test_label_scores_parse_or_refuse(raw: str) -> None:
    """Any text gives valid scores or a ValueError (the flow's translated error)."""
    try:
        scores = parse_label_scores(raw)
    except ValueError:
        return
    assert all(label and label == label.strip() for label in scores)
    assert all(0.0 < score <= 1.0 for score in scores.values())


@SETTINGS
@given(json_values)
def test_zones_parse_or_refuse(raw: Any) -> None:
    """Any YAML/JSON value gives valid zones or a ZoneError, never another exception."""
    try:
        zones = parse_zones(raw)
    except ZoneError:
        return
    for zone in zones:
        assert len(zone.polygon) >= 3
        assert all(0.0 <= v <= 1.0 for point in zone.polygon for v in point)


@SETTINGS
@given(json_values)
def test_mask_parse_or_refuse(raw: Any) -> None:
    try:
        mask = parse_mask(raw)
    except ZoneError:
        return
    assert all(len(polygon) >= 3 for polygon in mask)


@SETTINGS
@given(
    st.sampled_from(["rtsp", "http", "https", "rtsps", "amqp", "file"]),
    st.text(alphabet=st.characters(blacklist_characters="@/\x00"), min_size=1, max_size=12),
    st.text(alphabet=st.characters(blacklist_characters="\x00"), min_size=4, max_size=16),
    st.text(alphabet="abcdefghijklmnop.0123456789-", min_size=1, max_size=20),
)
def test_redact_url_never_leaks_the_password(
    scheme: str, user: str, password: str, host: str
) -> None:
    """Whatever the password holds (@, /, #, ?), the redacted URL does not show it."""
    url = f"{scheme}://{user}:{password}@{host}:554/stream?x=1"
    assert redact_url(url) == f"{scheme}://***@{host}:554/stream?x=1"


@SETTINGS
@given(st.text(max_size=60))
def test_source_target_accepts_or_refuses(raw: str) -> None:
    """Typed URLs are accepted or refused with InvalidUrlError, and never echo a password."""
    message = ""
    try:
        source_target(raw)
    except InvalidUrlError as err:
        message = str(err)
    if message and "@" in raw and ":" in raw.split("@")[0]:
        secret = raw.split("@")[0].rsplit(":", 1)[-1]
        if len(secret) >= 4:
            assert secret not in message


@SETTINGS
@given(st.dictionaries(st.sampled_from(["camera", "image_path", "min_score", "board", "line", "x"]), json_values, max_size=4))
def test_service_data_is_validated(data: dict[str, Any]) -> None:
    """Arbitrary service data either passes the schema or raises vol.Invalid."""
    for schema in (CONTROL_SCHEMA, DETECT_SCHEMA, SEND_SERIAL_SCHEMA):
        try:
            validated = schema(data)
        except vol.Invalid:
            continue
        assert isinstance(validated, dict)
        if schema is DETECT_SCHEMA:
            assert 0.05 <= validated["min_score"] <= 1.0
            assert ("camera" in validated) != ("image_path" in validated)
