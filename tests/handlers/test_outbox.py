"""The AMQP outbox file: torn lines, a full disk, garbage, and compaction off the loop."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import resource
import signal
import threading

import pytest

from custom_components.camera_alerts.handlers import outbox as outbox_module
from custom_components.camera_alerts.handlers.outbox import Outbox, OutboxRecord

from .conftest import track_events


def read_seqs(path: Path) -> list[int]:
    """The sequence numbers a restarted Home Assistant would find."""
    return [
        json.loads(line)["seq"]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


async def reload(path: Path) -> Outbox:
    """A new outbox on the same file: what the next start (after a crash) sees."""
    outbox = Outbox(path)
    await outbox.async_load()
    return outbox


async def test_a_torn_last_line_does_not_swallow_the_next_record(
    tmp_path: Path,
) -> None:
    """Power cut mid-line: the next append starts on a line of its own."""
    path = tmp_path / "outbox.jsonl"
    events = track_events(1)
    lines = [OutboxRecord(n, e).to_line() for n, e in enumerate(events, 1)]
    path.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2], encoding="utf-8")

    outbox = await reload(path)
    assert [record.seq for record in outbox] == [1, 2]
    appended = outbox.append(events[2])
    await outbox.async_flush()
    # Crash now: the fsynced record must be there on the next start.
    again = await reload(path)
    assert [record.seq for record in again] == [1, 2, appended.seq]
    assert list(again)[-1].event == events[2]


async def test_garbage_in_the_file_is_skipped_not_fatal(tmp_path: Path) -> None:
    """Invalid UTF-8, an infinite or fractional sequence number, junk JSON: skipped."""
    path = tmp_path / "outbox.jsonl"
    good = [OutboxRecord(n, e) for n, e in enumerate(track_events(1), 1)]
    infinite = json.dumps({"seq": float("inf"), "event": good[0].event.as_dict()})
    bad_lines = [
        b"\xff\xfe not utf-8\n",
        infinite.encode() + b"\n",
        b'{"seq": 2.5, "event": {}}\n',
        b'{"seq": 4, "event": [1, 2]}\n',
        b"[1, 2]\n",
        b'{"seq": 5, "event": {"box": 1}}\n',
    ]
    path.write_bytes(
        good[0].to_line().encode()
        + b"".join(bad_lines)
        + good[1].to_line().encode()
        + good[2].to_line().encode()
    )
    outbox = await reload(path)
    assert [record.seq for record in outbox] == [1, 2, 3]
    # The unreadable lines are dropped from the file at once.
    await outbox.async_flush()
    assert read_seqs(path) == [1, 2, 3]
    assert outbox.append(good[0].event).seq == 4


async def test_duplicate_records_are_read_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    records = [OutboxRecord(n, e) for n, e in enumerate(track_events(1), 1)]
    path.write_text(
        "".join(r.to_line() for r in [*records, records[1], records[2]]),
        encoding="utf-8",
    )
    outbox = await reload(path)
    assert [record.seq for record in outbox] == [1, 2, 3]


@pytest.fixture
def file_size_limit() -> Iterator[list[int]]:
    """Let a test make every write past N bytes fail, as on a full disk (EFBIG)."""
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit: list[int] = []
    yield limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, previous)


async def test_a_partial_write_is_not_repeated(
    tmp_path: Path, file_size_limit: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills mid-batch: the retry writes each record exactly once."""
    path = tmp_path / "outbox.jsonl"
    outbox = Outbox(path)
    await outbox.async_load()
    events = track_events(2)
    outbox.append(events[0])
    await outbox.async_flush()
    size = path.stat().st_size
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    real_append = outbox_module._append_lines

    def append_on_a_full_disk(target: Path, lines: list[str]) -> None:
        # Room for one and a half more records, as on a disk that fills up.
        resource.setrlimit(
            resource.RLIMIT_FSIZE, (size + len(lines[0]) * 3 // 2, hard)
        )
        try:
            real_append(target, lines)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))

    monkeypatch.setattr(outbox_module, "_append_lines", append_on_a_full_disk)
    for event in events[1:4]:
        outbox.append(event)
    await outbox.async_flush()
    assert outbox.write_error is not None
    monkeypatch.setattr(outbox_module, "_append_lines", real_append)

    outbox.append(events[4])
    await outbox.async_flush()
    assert outbox.write_error is None
    assert read_seqs(path) == [1, 2, 3, 4, 5]
    assert [record.seq for record in await reload(path)] == [1, 2, 3, 4, 5]


async def test_compaction_serialises_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole file is rebuilt in the executor, not on the event loop."""
    path = tmp_path / "outbox.jsonl"
    outbox = Outbox(path)
    await outbox.async_load()
    events = track_events(400)
    for event in events:
        outbox.append(event)
    await outbox.async_flush()

    loop_thread = threading.current_thread()
    threads: set[threading.Thread] = set()
    real_to_line = OutboxRecord.to_line

    def to_line(record: OutboxRecord) -> str:
        threads.add(threading.current_thread())
        return real_to_line(record)

    monkeypatch.setattr(OutboxRecord, "to_line", to_line)
    removed = outbox.ack(outbox_module.COMPACT_THRESHOLD)
    assert removed == outbox_module.COMPACT_THRESHOLD
    await outbox.async_flush()
    assert threads
    assert loop_thread not in threads
    assert read_seqs(path) == list(range(outbox_module.COMPACT_THRESHOLD + 1, 1201))
