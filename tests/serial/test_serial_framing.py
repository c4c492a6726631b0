"""Line splitting with a size cap."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from custom_components.camera_alerts.serial.framing import LineSplitter


class Sink:
    def __init__(self, max_bytes: int = 16) -> None:
        self.lines: list[bytes] = []
        self.overflows = 0
        self.splitter = LineSplitter(self.lines.append, self._overflow, max_bytes)

    def _overflow(self) -> None:
        self.overflows += 1


def test_lf_and_crlf_lines() -> None:
    sink = Sink()
    sink.splitter.feed(b"a=1\nb=2\r\n\nc")
    assert sink.lines == [b"a=1", b"b=2", b""]
    sink.splitter.feed(b"=3\n")
    assert sink.lines[-1] == b"c=3"


def test_partial_lines_across_many_writes() -> None:
    sink = Sink()
    for byte in b"temp=2\r\nhum=4\n":
        sink.splitter.feed(bytes([byte]))
    assert sink.lines == [b"temp=2", b"hum=4"]
    assert sink.overflows == 0


def test_line_at_the_cap_is_kept_and_one_over_is_dropped() -> None:
    sink = Sink(max_bytes=16)
    sink.splitter.feed(b"x" * 16 + b"\r\n")
    sink.splitter.feed(b"y" * 17 + b"\n")
    assert sink.lines == [b"x" * 16]
    assert sink.overflows == 1


def test_overlong_line_is_discarded_up_to_the_next_newline() -> None:
    sink = Sink(max_bytes=16)
    sink.splitter.feed(b"n" * 10)
    sink.splitter.feed(b"n" * 10)  # passes the cap: reported now, once
    assert sink.overflows == 1
    sink.splitter.feed(b"n" * 1000)
    sink.splitter.feed(b"nn\nok=1\n")
    assert sink.overflows == 1
    assert sink.lines == [b"ok=1"]


def test_reset_forgets_a_partial_line() -> None:
    sink = Sink()
    sink.splitter.feed(b"half")
    sink.splitter.reset()
    sink.splitter.feed(b"whole\n")
    assert sink.lines == [b"whole"]


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=30),
)
def test_chunking_does_not_change_the_result(
    lines: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    whole = Sink(max_bytes=24)
    whole.splitter.feed(stream)
    chunked = Sink(max_bytes=24)
    position = 0
    index = 0
    while position < len(stream):
        size = cuts[index % len(cuts)]
        chunked.splitter.feed(stream[position : position + size])
        position += size
        index += 1
    assert chunked.lines == whole.lines
    assert chunked.overflows == whole.overflows
    expected = [line.removesuffix(b"\r") for line in lines]
    assert whole.lines == [line for line in expected if len(line) <= 24]
    assert whole.overflows == sum(len(line) > 24 for line in expected)
