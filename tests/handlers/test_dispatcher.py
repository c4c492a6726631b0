"""Dispatcher: isolation between sinks, overflow policy, listeners and clean stop."""

from __future__ import annotations

import asyncio

import pytest

from custom_components.camera_alerts.handlers.base import Sink, redact, url_secrets
from custom_components.camera_alerts.handlers.dispatcher import Dispatcher
from custom_components.camera_alerts.models import DetectionEvent

from .conftest import make_event


class RecordingSink(Sink):
    """Counts what it receives; optionally waits on a gate for every event."""

    def __init__(self, name: str, gate: asyncio.Event | None = None) -> None:
        super().__init__(name)
        self.gate = gate
        self.received: list[DetectionEvent] = []
        self.started = False
        self.stopped = False
        self.expected = 0
        self.complete = asyncio.Event()

    async def async_start(self) -> None:
        self.started = True

    async def async_stop(self) -> None:
        self.stopped = True

    async def async_handle(self, event: DetectionEvent) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.received.append(event)
        self._record_success()
        if len(self.received) >= self.expected:
            self.complete.set()


class BrokenSink(RecordingSink):
    """Fails to start and raises on every event."""

    async def async_start(self) -> None:
        raise ConnectionError("no route to amqp://user:hunter2@broker/")

    async def async_handle(self, event: DetectionEvent) -> None:
        raise RuntimeError("boom")


async def test_slow_sink_does_not_delay_fast_one() -> None:
    """A stuck sink holds only its own queue; the fast one and the caller carry on."""
    gate = asyncio.Event()
    slow = RecordingSink("slow", gate)
    fast = RecordingSink("fast")
    dispatcher = Dispatcher([slow, fast], queue_size=100)
    await dispatcher.async_start()
    events = [make_event() for _ in range(50)]
    fast.expected = len(events)
    for event in events:
        dispatcher.dispatch(event)  # synchronous: returns without awaiting any sink
    await fast.complete.wait()
    assert fast.received == events
    assert slow.received == []
    assert dispatcher.status()["slow"]["queued"] == 49  # one is inside the slow sink

    gate.set()
    await dispatcher.async_drain()
    assert slow.received == events
    assert dispatcher.status()["slow"]["sent"] == 50
    await dispatcher.async_stop()


async def test_overflow_drops_oldest_and_counts() -> None:
    """A full queue loses its oldest events, counted in `dropped`; the newest stay."""
    gate = asyncio.Event()
    slow = RecordingSink("slow", gate)
    dispatcher = Dispatcher([slow], queue_size=10)
    await dispatcher.async_start()
    await asyncio.sleep(0)
    first = make_event()
    dispatcher.dispatch(first)
    await asyncio.sleep(0)  # the worker takes `first` and waits on the gate
    events = [make_event() for _ in range(25)]
    for event in events:
        dispatcher.dispatch(event)
    assert slow.state.dropped == 15
    assert slow.state.queued == 10
    gate.set()
    await dispatcher.async_drain()
    assert slow.received == [first, *events[15:]]
    await dispatcher.async_stop()


async def test_broken_sink_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    """A sink that raises never reaches the caller or the other sinks; secrets are cut."""
    broken = BrokenSink("broken")
    good = RecordingSink("good")
    dispatcher = Dispatcher([broken, good])
    await dispatcher.async_start()
    for _ in range(3):
        dispatcher.dispatch(make_event())
    await dispatcher.async_drain()
    status = dispatcher.status()
    assert status["good"]["sent"] == 3
    assert status["broken"]["failed"] == 3
    assert status["broken"]["last_error"] == "boom"
    assert status["broken"]["last_error_time"] is not None
    await dispatcher.async_stop()
    assert "hunter2" not in caplog.text


async def test_listener_is_told_and_throttled() -> None:
    """Listeners hear about state changes, at most once per interval, and can leave."""
    sink = RecordingSink("fast")
    dispatcher = Dispatcher([sink], notify_interval=3600)
    calls: list[int] = []
    remove = dispatcher.async_add_listener(lambda: calls.append(sink.state.sent))
    await dispatcher.async_start()
    for _ in range(20):
        dispatcher.dispatch(make_event())
    await dispatcher.async_drain()
    assert len(calls) == 1  # first change immediately, the rest wait for the interval
    remove()
    await dispatcher.async_stop()
    assert len(calls) == 1


async def test_stop_leaves_nothing_running() -> None:
    """Stop cancels stuck workers, counts abandoned events and stops every sink."""
    gate = asyncio.Event()
    stuck = RecordingSink("stuck", gate)
    dispatcher = Dispatcher([stuck], drain_timeout=0.01)
    await dispatcher.async_start()
    for _ in range(5):
        dispatcher.dispatch(make_event())
    await asyncio.sleep(0)
    before = {
        t for t in asyncio.all_tasks() if t.get_name().startswith("camera_alerts")
    }
    assert before
    await dispatcher.async_stop()
    after = {t for t in asyncio.all_tasks() if t.get_name().startswith("camera_alerts")}
    assert after == set()
    assert all(task.done() for task in before)
    assert stuck.stopped
    assert stuck.state.dropped == 4  # one was inside the sink when it was cancelled
    dispatcher.dispatch(make_event())  # after stop: ignored, no error
    assert stuck.state.queued == 0


def test_redact() -> None:
    """Passwords in URLs and known secrets never survive."""
    assert (
        redact("amqp://user:p%40ss@host:5672/vh")
        == "amqp://user:**REDACTED**@host:5672/vh"
    )
    # An unescaped `@` in the password: hidden up to the host.
    assert (
        redact("cannot reach amqp://user:p@ss@host:5672/vh: refused")
        == "cannot reach amqp://user:**REDACTED**@host:5672/vh: refused"
    )
    assert redact("token abc123 failed", ["abc123"]) == "token **REDACTED** failed"
    assert redact("http://host/api") == "http://host/api"


def test_duplicate_names_rejected() -> None:
    """Status is keyed by name, so two sinks cannot share one."""
    with pytest.raises(ValueError, match="unique"):
        Dispatcher([RecordingSink("a"), RecordingSink("a")])


def test_url_secrets() -> None:
    """The password of a URL, as typed and decoded, for replacing in any message."""
    assert sorted(url_secrets("amqp://user:p%40ss@ss@host/")) == ["p%40ss@ss", "p@ss@ss"]
    assert url_secrets("amqp://user@host/") == []
    assert url_secrets("amqp://host/") == []
