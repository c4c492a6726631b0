"""A persistent, bounded, ordered queue of events waiting for a broker's confirm.

Each accepted event becomes a record with a sequence number that never repeats for
this file. Records live in memory (the source of truth while running) and in a
JSON-lines file written behind by the executor: new records are appended in
batches; acknowledged and dropped records are removed by rewriting the file
(write to a temporary file, then an atomic rename) once enough of them pile up.
A crash between a confirm and the next rewrite only means some records are sent
again with the same message id (at-least-once), never that one is lost.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
import functools
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..models import DetectionEvent

_LOGGER = logging.getLogger(__name__)

DEFAULT_MAX_EVENTS = 10_000
# Rewrite the file once this many removed records are still in it.
COMPACT_THRESHOLD = 1_000


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One event waiting for delivery."""

    seq: int
    event: DetectionEvent

    def to_line(self) -> str:
        """Return the record as one JSON line."""
        return json.dumps({"seq": self.seq, "event": self.event.as_dict()}) + "\n"


def _parse_line(line: bytes) -> OutboxRecord:
    """Return the record on one line; raises ValueError for anything else."""
    try:
        data = json.loads(line.decode("utf-8"))
        seq, event = data["seq"], DetectionEvent.from_dict(data["event"])
    except (
        ValueError,  # also UnicodeDecodeError and JSONDecodeError
        KeyError,
        TypeError,
        AttributeError,
        OverflowError,
    ) as err:
        raise ValueError(str(err)) from err
    # JSON numbers include 2.5, 1e999 (infinity) and true: none is a sequence number.
    if type(seq) is not int or seq < 1:
        raise ValueError(f"bad sequence number {seq!r}")
    return OutboxRecord(seq, event)


@dataclass(frozen=True, slots=True)
class _FileContents:
    records: list[OutboxRecord]
    unreadable: int
    torn: bool
    """The last line has no newline (a power cut or a full disk mid-write)."""


def _read_records(path: Path) -> _FileContents:
    """Read the file (executor): its records, oldest first, once each."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _FileContents([], 0, torn=False)
    lines = data.split(b"\n")
    torn = bool(lines[-1].strip())
    unreadable = 0
    by_seq: dict[int, OutboxRecord] = {}
    for line in lines:
        if not line.strip():
            continue
        try:
            record = _parse_line(line)
        except ValueError:
            # A hand-edited file, or bytes a crash left behind.
            unreadable += 1
            continue
        # A write retried after a failure may have left a record twice.
        by_seq.setdefault(record.seq, record)
    return _FileContents(
        sorted(by_seq.values(), key=lambda record: record.seq), unreadable, torn
    )


def _append_lines(path: Path, lines: list[str]) -> None:
    """Append lines and push them to disk, all or nothing (executor).

    A file whose last line was torn gets a newline first, so the new records
    start on their own line. When the disk fills mid-way, the file is cut back
    to where it was, so the retry does not write any record twice.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(lines).encode("utf-8")
    # Unbuffered: a buffered file would write its leftovers again when closed.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def _rewrite(path: Path, records: list[OutboxRecord]) -> None:
    """Replace the file with exactly these records, atomically (executor).

    The records are turned into lines here, in the executor: 10,000 of them
    take a third of a second, which the event loop must not spend.
    """
    if not records:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.writelines(record.to_line() for record in records)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Outbox:
    """Ordered records waiting for delivery, kept in memory and on disk."""

    def __init__(self, path: Path, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        """Initialise the outbox; call `async_load` before use."""
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.path = path
        self.max_events = max_events
        self.dropped = 0
        self.write_error: str | None = None
        self._records: deque[OutboxRecord] = deque()
        self._next_seq = 1
        self._pending_lines: list[str] = []
        self._stale = 0  # removed records still present in the file
        # The file holds lines that are not records (torn or corrupt): rewrite it
        # before anything is appended.
        self._dirty = False
        self._lock = asyncio.Lock()
        self._flush_task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        """Return the number of records waiting."""
        return len(self._records)

    def __iter__(self) -> Iterator[OutboxRecord]:
        """Iterate over the waiting records, oldest first."""
        return iter(self._records)

    @property
    def overflowed(self) -> bool:
        """Return True once events were dropped because the outbox was full."""
        return self.dropped > 0

    async def async_load(self) -> int:
        """Read what a previous run left; returns the number of records loaded."""
        loop = asyncio.get_running_loop()
        contents = await loop.run_in_executor(None, _read_records, self.path)
        records = contents.records
        if contents.unreadable:
            _LOGGER.warning(
                "Skipped %s unreadable line(s) in the AMQP outbox %s",
                contents.unreadable,
                self.path,
            )
        excess = len(records) - self.max_events
        if excess > 0:
            self.dropped += excess
            records = records[excess:]
        self._records.extend(records)
        if records:
            self._next_seq = records[-1].seq + 1
        if excess > 0:
            self._stale += excess
        # Lines that are no records must go before anything is appended.
        self._dirty = bool(contents.unreadable or contents.torn)
        if self._dirty or excess > 0:
            self._schedule_flush()
        return len(records)

    def append(self, event: DetectionEvent) -> OutboxRecord:
        """Accept an event (non-blocking); the oldest record goes when full."""
        if len(self._records) >= self.max_events:
            self._records.popleft()
            self.dropped += 1
            self._stale += 1
        record = OutboxRecord(self._next_seq, event)
        self._next_seq += 1
        self._records.append(record)
        self._pending_lines.append(record.to_line())
        self._schedule_flush()
        return record

    def peek(self, count: int) -> list[OutboxRecord]:
        """Return up to `count` of the oldest records without removing them."""
        return [record for _, record in zip(range(count), self._records, strict=False)]

    def ack(self, seq: int) -> int:
        """Remove every record up to and including `seq`; return how many went."""
        removed = 0
        while self._records and self._records[0].seq <= seq:
            self._records.popleft()
            removed += 1
        if removed:
            self._stale += removed
            if self._stale >= COMPACT_THRESHOLD or not self._records:
                self._schedule_flush()
        return removed

    def _schedule_flush(self) -> None:
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.get_running_loop().create_task(
                self.async_flush(), name="camera_alerts amqp outbox flush"
            )

    async def async_flush(self) -> None:
        """Write pending changes to disk (in the executor, one writer at a time)."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            while self._pending_lines or self._needs_rewrite():
                dirty = self._dirty
                if self._needs_rewrite():
                    # The snapshot already holds every pending line.
                    records = list(self._records)
                    pending, stale = self._pending_lines, self._stale
                    self._pending_lines, self._stale, self._dirty = [], 0, False
                    job = functools.partial(_rewrite, self.path, records)
                else:
                    pending, stale = self._pending_lines, 0
                    self._pending_lines = []
                    job = functools.partial(_append_lines, self.path, pending)
                try:
                    await loop.run_in_executor(None, job)
                except OSError as err:
                    # Disk full or read-only: keep the work for the next flush; the
                    # records are still safe in memory while Home Assistant runs.
                    self._pending_lines = pending + self._pending_lines
                    self._stale += stale
                    self._dirty = self._dirty or dirty
                    if self.write_error is None:
                        _LOGGER.warning(
                            "Cannot write the AMQP outbox %s: %s", self.path, err
                        )
                    self.write_error = str(err)
                    return
                self.write_error = None

    def _needs_rewrite(self) -> bool:
        return self._dirty or (
            self._stale > 0 and (self._stale >= COMPACT_THRESHOLD or not self._records)
        )

    async def async_close(self) -> None:
        """Persist everything, compacting what was acknowledged."""
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
            self._flush_task = None
        if self._stale:
            # Force the final compaction regardless of the threshold.
            self._stale = max(self._stale, COMPACT_THRESHOLD)
        await self.async_flush()

    def status(self) -> dict[str, Any]:
        """Return the outbox figures for the sink status."""
        return {"outbox_size": len(self._records), "outbox_overflow": self.overflowed}
