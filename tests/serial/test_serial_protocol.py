"""Line protocol parsing: values, descriptions, and every rejected kind."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.camera_alerts.serial.protocol import (
    MAX_LINE_BYTES,
    CommandError,
    Description,
    ErrorKind,
    KeyDescription,
    LineError,
    Reading,
    StateClass,
    encode_command,
    normalize_key,
    parse_line,
)


def test_json_line_from_the_issue() -> None:
    result = parse_line(
        b'{"temperature": 21.4, "humidity": 48, "door": "open", "motion": true}'
    )
    assert result == Reading(
        {"temperature": 21.4, "humidity": 48, "door": "open", "motion": True}
    )
    assert isinstance(result.values["humidity"], int)
    assert result.values["motion"] is True


def test_json_keys_are_normalised_and_nested_objects_flattened() -> None:
    result = parse_line(b'{"Room Temp": 20, "bme280": {"Pressure-hPa": 1013.2}}')
    assert result == Reading({"room_temp": 20, "bme280_pressure_hpa": 1013.2})


def test_json_null_means_no_value_now() -> None:
    assert parse_line(b'{"temperature": null, "ok": 1}') == Reading(
        {"temperature": None, "ok": 1}
    )


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b'{"a": [1, 2]}', ErrorKind.BAD_VALUE),
        (b'{"a": "x\\u0000y"}', ErrorKind.BAD_VALUE),
        (b'{"a": "' + b"x" * 256 + b'"}', ErrorKind.VALUE_TOO_LONG),
        (b'{"": 1}', ErrorKind.BAD_KEY),
        (b'{"' + b"k" * 33 + b'": 1}', ErrorKind.BAD_KEY),
        (b'{"a": NaN}', ErrorKind.BAD_JSON),
        (b'{"a": 1e400}', ErrorKind.BAD_VALUE),
        (b'{"a": 9223372036854775808}', ErrorKind.BAD_VALUE),
        (b"a=-9223372036854775808", ErrorKind.BAD_VALUE),
        (b"a=" + b"9" * 4000, ErrorKind.BAD_VALUE),
        (b'{"a": 1', ErrorKind.BAD_JSON),
        (b"[1, 2]", ErrorKind.BAD_PAIR),
        (b"{" * 3000, ErrorKind.BAD_JSON),
        (b"\xff\xfetemp=1", ErrorKind.INVALID_UTF8),
        (b"temp=1\x00\x01", ErrorKind.BINARY),
        (b"x" * (MAX_LINE_BYTES + 1), ErrorKind.TOO_LONG),
        (b"hello world", ErrorKind.BAD_PAIR),
        (b"=5", ErrorKind.BAD_KEY),
        (b"#describe nope", ErrorKind.BAD_DESCRIPTION),
        (b'#describe {"t": {"unit": 5}}', ErrorKind.BAD_DESCRIPTION),
        (b'#describe {"t": {"state_class": "sometimes"}}', ErrorKind.BAD_DESCRIPTION),
        (b'#describe {"t": {"device_class": "Not Valid"}}', ErrorKind.BAD_DESCRIPTION),
    ],
)
def test_rejected_lines(line: bytes, kind: ErrorKind) -> None:
    assert parse_line(line) == LineError(kind)


def test_one_bad_key_keeps_the_rest_of_the_line() -> None:
    result = parse_line(b'{"good": 1, "bad": [1], "": 2}')
    assert result == Reading({"good": 1}, (ErrorKind.BAD_VALUE, ErrorKind.BAD_KEY))


def test_key_value_pairs_with_mixed_separators() -> None:
    result = parse_line(b"temp=21.5, hum=40;led=ON door=open  count=-3 x=1e3\r")
    assert result == Reading(
        {
            "temp": 21.5,
            "hum": 40,
            "led": True,
            "door": "open",
            "count": -3,
            "x": 1000.0,
        }
    )


def test_key_value_booleans_and_strings() -> None:
    result = parse_line(b"a=true b=off c=False d=nan e=1.2.3")
    assert result == Reading(
        {"a": True, "b": False, "c": False, "d": "nan", "e": "1.2.3"}
    )


def test_key_value_bad_tokens_are_counted() -> None:
    assert parse_line(b"temp=20 junk other=") == Reading(
        {"temp": 20}, (ErrorKind.BAD_PAIR, ErrorKind.BAD_PAIR)
    )


@pytest.mark.parametrize("line", [b"", b"   ", b"\r", b"# booting v1.2", b"#"])
def test_blank_and_comment_lines_are_ignored(line: bytes) -> None:
    assert parse_line(line) is None


def test_description_line() -> None:
    line = (
        '#describe {"temperature": {"unit": "°C", "device_class": "temperature",'
        ' "name": "Temperature", "extra": 1},'
        ' "Boots": {"state_class": "total_increasing"}, "bad": 3}'
    ).encode()
    assert parse_line(line) == Description(
        {
            "temperature": KeyDescription(
                name="Temperature", unit="°C", device_class="temperature"
            ),
            "boots": KeyDescription(state_class=StateClass.TOTAL_INCREASING),
        },
        (ErrorKind.BAD_DESCRIPTION,),
    )


def test_describe_marker_needs_a_separator() -> None:
    # "#describeX" is just a comment, not a malformed description.
    assert parse_line(b"#describes the board") is None


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Temperature", "temperature"),
        ("temp-C", "temp_c"),
        ("  a..b  ", "a_b"),
        ("_x_", "x"),
        ("température", "temp_rature"),
        ("k" * 32, "k" * 32),
        ("k" * 33, None),
        ("---", None),
    ],
)
def test_normalize_key(raw: str, key: str | None) -> None:
    assert normalize_key(raw) == key


def test_encode_command() -> None:
    assert encode_command("led=on") == b"led=on\n"
    for bad in ("", "a\nb", "a\rb", "x" * (MAX_LINE_BYTES + 1)):
        with pytest.raises(CommandError):
            encode_command(bad)


@settings(max_examples=400, deadline=None, database=None)
@given(st.binary(max_size=MAX_LINE_BYTES + 16))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    result = parse_line(raw)
    assert result is None or isinstance(result, Reading | Description | LineError)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    for prefix in ("", "{", "#describe ", "k="):
        parse_line((prefix + text).encode("utf-8", "surrogatepass"))


# Keys already in normal form: no leading, trailing or doubled "_", at most 32 characters.
_keys = st.from_regex(r"[a-z0-9]{1,8}(_[a-z0-9]{1,7}){0,3}", fullmatch=True)
_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(
        st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), max_size=255
    ),
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=40))
def test_normalised_keys_are_stable(raw: str) -> None:
    key = normalize_key(raw)
    if key is not None:
        assert normalize_key(key) == key
        assert len(key) <= 32
        assert not key.startswith("_")
        assert not key.endswith("_")
        assert "__" not in key


@settings(max_examples=200, deadline=None, database=None)
@given(st.dictionaries(_keys, _values, min_size=1, max_size=20))
def test_valid_json_readings_round_trip(values: dict[str, object]) -> None:
    line = json.dumps(values, ensure_ascii=False).encode()
    if len(line) > MAX_LINE_BYTES:
        assert parse_line(line) == LineError(ErrorKind.TOO_LONG)
        return
    assert parse_line(line) == Reading(values)  # type: ignore[arg-type]
