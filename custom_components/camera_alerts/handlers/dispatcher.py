"""Fan detection events out to every enabled sink without letting one slow the others."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
import contextlib
import logging
from typing import Any

from homeassistant.core import callback

from ..models import DetectionEvent
from .base import BufferedSink, Sink, redact

_LOGGER = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1000
# Diagnostic sensors need not follow every counter tick; at most one update per interval.
DEFAULT_NOTIFY_INTERVAL = 1.0
# On stop, events already queued get this long to go out before they are abandoned.
DEFAULT_DRAIN_TIMEOUT = 2.0


def _safe(sink: Sink, err: BaseException) -> str:
    """Describe an error for the log; tracebacks are left out as they may hold secrets."""
    return redact(f"{type(err).__name__}: {err}", sink._secrets)


class _Lane:
    """The bounded queue and worker task in front of one sink."""

    def __init__(self, sink: Sink, maxsize: int) -> None:
        self.sink = sink
        self.maxsize = maxsize
        self.queue: deque[DetectionEvent] = deque()
        self.wakeup = asyncio.Event()
        # Set once the sink has started and its queue is empty.
        self.idle = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.overflowing = False

    def put(self, event: DetectionEvent) -> None:
        """Queue an event; when full, the oldest one goes (the newest is most useful)."""
        if len(self.queue) >= self.maxsize:
            self.queue.popleft()
            self.sink.state.dropped += 1
            if not self.overflowing:
                # One line per overflow episode, not one per dropped event.
                self.overflowing = True
                _LOGGER.warning(
                    "Sink %s cannot keep up; dropping the oldest queued events",
                    self.sink.name,
                )
        self.queue.append(event)
        self.sink.state.queued = len(self.queue)
        self.idle.clear()
        self.wakeup.set()

    async def run(self) -> None:
        """Start the sink, then deliver queued events one at a time, in order."""
        sink = self.sink
        try:
            await sink.async_start()
        except Exception as err:  # a broken sink must not stop the others
            _LOGGER.debug("Sink %s failed to start: %s", sink.name, _safe(sink, err))
            sink._record_error(f"start failed: {err}", failed=0)
        while True:
            if not self.queue:
                self.overflowing = False
                self.idle.set()
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            event = self.queue.popleft()
            sink.state.queued = len(self.queue)
            try:
                await sink.async_handle(event)
            except Exception as err:  # same reason: contain the sink
                _LOGGER.debug(
                    "Sink %s failed on an event: %s", sink.name, _safe(sink, err)
                )
                sink._record_error(str(err) or type(err).__name__)


class Dispatcher:
    """Send every event to each sink through its own queue and worker task."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        notify_interval: float = DEFAULT_NOTIFY_INTERVAL,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
    ) -> None:
        """Initialise the dispatcher; nothing runs before `async_start`."""
        names = [sink.name for sink in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"Sink names must be unique: {names}")
        self._sinks = list(sinks)
        self._lanes = [
            _Lane(sink, queue_size)
            for sink in self._sinks
            if not isinstance(sink, BufferedSink)
        ]
        self._buffered = [
            sink for sink in self._sinks if isinstance(sink, BufferedSink)
        ]
        self._notify_interval = notify_interval
        self._drain_timeout = drain_timeout
        self._listeners: list[Callable[[], None]] = []
        self._notify_handle: asyncio.TimerHandle | None = None
        self._last_notify = float("-inf")
        self._buffered_tasks: list[asyncio.Task[None]] = []
        self._running = False

    @property
    def sinks(self) -> list[Sink]:
        """Return the sinks in the order they were given."""
        return list(self._sinks)

    @property
    def running(self) -> bool:
        """Return True between `async_start` and `async_stop`."""
        return self._running

    async def async_start(self) -> None:
        """Start one worker per sink; returns without waiting for any service."""
        if self._running:
            return
        self._running = True
        loop = asyncio.get_running_loop()
        for sink in self._sinks:
            sink.set_change_listener(self._async_schedule_notify)
        for lane in self._lanes:
            lane.task = loop.create_task(
                lane.run(), name=f"camera_alerts sink {lane.sink.name}"
            )
        for sink in self._buffered:
            self._buffered_tasks.append(
                loop.create_task(
                    self._async_start_buffered(sink),
                    name=f"camera_alerts sink {sink.name} start",
                )
            )

    async def _async_start_buffered(self, sink: BufferedSink) -> None:
        try:
            await sink.async_start()
        except Exception as err:  # a broken sink must not stop the others
            _LOGGER.debug("Sink %s failed to start: %s", sink.name, _safe(sink, err))
            sink._record_error(f"start failed: {err}", failed=0)

    @callback
    def dispatch(self, event: DetectionEvent) -> None:
        """Hand an event to every sink; never blocks, never raises for a sink's sake."""
        if not self._running:
            return
        for lane in self._lanes:
            lane.put(event)
        for sink in self._buffered:
            try:
                sink.accept(event)
            except Exception as err:  # the caller must never see a sink's error
                _LOGGER.debug(
                    "Sink %s refused an event: %s", sink.name, _safe(sink, err)
                )
                sink._record_error(str(err) or type(err).__name__)
        self._async_schedule_notify()

    def status(self) -> dict[str, dict[str, Any]]:
        """Return each sink's status, keyed by sink name."""
        return {sink.name: sink.status() for sink in self._sinks}

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` (throttled) when a sink's state changes; returns the remover."""
        self._listeners.append(listener)

        @callback
        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    async def async_drain(self) -> None:
        """Wait until every sink has started and its queue is empty (tests, benchmarks)."""
        await asyncio.gather(*(lane.idle.wait() for lane in self._lanes))

    async def async_stop(self) -> None:
        """Give queued events a short grace, then stop every worker and sink."""
        if not self._running:
            return
        self._running = False
        if self._lanes:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._drain_timeout):
                    await self.async_drain()
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        tasks += self._buffered_tasks
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._buffered_tasks.clear()
        for lane in self._lanes:
            lane.task = None
            if lane.queue:
                # Abandoned on stop: count them so the loss is visible.
                lane.sink.state.dropped += len(lane.queue)
                lane.queue.clear()
                lane.sink.state.queued = 0
        await asyncio.gather(*(self._async_stop_sink(sink) for sink in self._sinks))
        for sink in self._sinks:
            sink.set_change_listener(None)
        if self._notify_handle is not None:
            self._notify_handle.cancel()
            self._notify_handle = None
        self._notify_now()

    async def _async_stop_sink(self, sink: Sink) -> None:
        try:
            await sink.async_stop()
        except Exception as err:  # stopping must still reach every other sink
            _LOGGER.debug(
                "Sink %s failed to stop cleanly: %s", sink.name, _safe(sink, err)
            )

    @callback
    def _async_schedule_notify(self) -> None:
        if not self._listeners or self._notify_handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = self._last_notify + self._notify_interval - loop.time()
        if delay <= 0:
            self._notify_now()
            return
        self._notify_handle = loop.call_later(delay, self._notify_now)

    @callback
    def _notify_now(self) -> None:
        self._notify_handle = None
        self._last_notify = asyncio.get_running_loop().time()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a listener must not break dispatching
                _LOGGER.exception("Error in a sink status listener")
