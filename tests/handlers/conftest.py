"""Helpers shared by the sink tests: events and a killable TCP proxy."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
import itertools

from custom_components.camera_alerts.models import DetectionEvent, EventType

RABBITMQ_HOST = "127.0.0.1"
RABBITMQ_PORT = 5672
RABBITMQ_URL = f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/"

_track_ids = itertools.count(1)


def make_event(
    *,
    camera: str = "Front Door",
    label: str = "person",
    event_type: EventType = EventType.NEW,
    track_id: int | None = None,
    score: float = 0.87,
) -> DetectionEvent:
    """Return a realistic event; the event id follows the track id."""
    track = next(_track_ids) if track_id is None else track_id
    return DetectionEvent(
        camera=camera,
        entity_id=f"camera.{camera.lower().replace(' ', '_')}",
        label=label,
        class_id=0,
        score=score,
        box={"x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4},
        frame_width=1280,
        frame_height=720,
        track_id=track,
        type=event_type,
        event_id=f"{camera}-{track}",
        timestamp=datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC),
    )


def track_events(count: int, **kwargs: object) -> list[DetectionEvent]:
    """Return `count` tracks, each as new, update, end (3 * count events)."""
    events: list[DetectionEvent] = []
    for _ in range(count):
        track = next(_track_ids)
        events.extend(
            make_event(event_type=step, track_id=track, **kwargs)  # type: ignore[arg-type]
            for step in (EventType.NEW, EventType.UPDATE, EventType.END)
        )
    return events


class TcpProxy:
    """Forward 127.0.0.1:<port> to a target; `async_stop` kills every connection.

    Lets a test take "the broker" away and bring it back on the same port without
    touching the shared RabbitMQ, so tests stay parallel-safe.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.connections = 0

    async def async_start(self) -> None:
        """Listen (again) on the same port."""
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def async_stop(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.transport.abort()
            self._writers.discard(dst)
