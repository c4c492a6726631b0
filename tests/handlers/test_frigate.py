"""Frigate sink against the local Frigate stand-in."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import pytest

from custom_components.camera_alerts.handlers.dispatcher import Dispatcher
from custom_components.camera_alerts.handlers.errors import CannotConnect, InvalidAuth
from custom_components.camera_alerts.handlers.frigate import (
    FrigateSink,
    async_validate_frigate,
)
from custom_components.camera_alerts.models import DetectionEvent, EventType

from .conftest import make_event, track_events
from .frigate_server import FakeFrigate

pytestmark = pytest.mark.usefixtures("socket_enabled")

CAMERAS = {"Front Door": "front_door", "Garage": "garage"}


@pytest.fixture
async def frigate() -> AsyncGenerator[FakeFrigate]:
    """Run the stand-in with two cameras and one admin user."""
    server = FakeFrigate(cameras={"front_door", "garage"}, users={"admin": "s3cret!"})
    await server.async_start()
    yield server
    await server.async_stop()


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    """Return a client session (HA's shared one in production)."""
    async with aiohttp.ClientSession() as client:
        yield client


def _sink(
    session: aiohttp.ClientSession, frigate: FakeFrigate, **kwargs: object
) -> FrigateSink:
    options: dict[str, object] = {
        "username": "admin",
        "password": "s3cret!",
        "backoff": 0.01,
    }
    options.update(kwargs)
    return FrigateSink(session, frigate.url, CAMERAS, **options)  # type: ignore[arg-type]


async def _dispatching(sink: FrigateSink, *events: DetectionEvent) -> Dispatcher:
    """Start a dispatcher on the sink and let `events` through it."""
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    for event in events:
        dispatcher.dispatch(event)
    await dispatcher.async_drain()
    return dispatcher


async def test_one_create_per_track_then_end(
    session: aiohttp.ClientSession, frigate: FakeFrigate
) -> None:
    """A track is one create (not one per update) and its end closes the Frigate event."""
    sink = _sink(session, frigate, sub_label="camera_alerts")
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    events = track_events(3, camera="Front Door", label="person")
    events.insert(1, events[1])  # a second update of the first track
    for event in events:
        dispatcher.dispatch(event)
    await dispatcher.async_drain()

    creates = [r for r in frigate.requests if r[1].endswith("/create")]
    assert creates == [("POST", "/api/events/front_door/person/create")] * 3
    assert len(frigate.events) == 3
    body = next(iter(frigate.events.values())).body
    assert body == {
        "sub_label": "camera_alerts",
        "score": 0.87,
        "duration": None,
        "include_recording": True,
        "draw": {"boxes": [{"box": [0.1, 0.2, 0.3, 0.4], "score": 87}]},
    }
    assert all(
        e.end_time == events[-1].timestamp.timestamp() for e in frigate.events.values()
    )
    assert frigate.logins == 1
    status = sink.status()
    assert status["sent"] == 6  # 3 creates + 3 ends
    assert status["failed"] == 0
    assert status["connected"] is True
    assert status["open_events"] == 0
    await dispatcher.async_stop()


async def test_open_events_end_on_stop_and_fixed_duration(
    session: aiohttp.ClientSession, frigate: FakeFrigate
) -> None:
    """Open events are ended on stop; with a fixed duration no end is sent at all."""
    dispatcher = await _dispatching(
        _sink(session, frigate), make_event(camera="Garage", label="car")
    )
    await dispatcher.async_stop()
    (created,) = frigate.events.values()
    assert created.end_time is not None

    fixed = _sink(session, frigate, duration=30)
    dispatcher = Dispatcher([fixed])
    await dispatcher.async_start()
    new = make_event(camera="Garage", label="car")
    dispatcher.dispatch(new)
    dispatcher.dispatch(
        make_event(event_type=EventType.END, track_id=new.track_id, camera="Garage")
    )
    await dispatcher.async_stop()
    assert [r for r in frigate.requests if r[1].endswith("/end")] == [
        ("PUT", f"/api/events/{created.event_id}/end")
    ]
    assert list(frigate.events.values())[-1].body["duration"] == 30


async def test_replies_that_are_not_json_end_every_open_event(
    session: aiohttp.ClientSession, frigate: FakeFrigate
) -> None:
    """A body labelled JSON that is not: no crash, and stop still ends every open event."""
    sink = _sink(session, frigate)
    dispatcher = await _dispatching(
        sink, *(make_event(camera="Garage", label="car") for _ in range(3))
    )
    assert sink.status()["open_events"] == 3

    frigate.garbled_replies = 1  # the first end's answer
    await dispatcher.async_stop()
    assert [e.end_time is not None for e in frigate.events.values()] == [True] * 3
    assert sink.status()["open_events"] == 0


async def test_relogin_on_401(
    session: aiohttp.ClientSession, frigate: FakeFrigate
) -> None:
    """An expired token is replaced by logging in again, and the create goes through."""
    sink = _sink(session, frigate)
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    dispatcher.dispatch(make_event())
    await dispatcher.async_drain()
    frigate.expire_tokens()
    dispatcher.dispatch(make_event())
    await dispatcher.async_drain()
    assert frigate.logins == 2
    assert len(frigate.events) == 2
    assert sink.state.failed == 0
    await dispatcher.async_stop()


async def test_bad_password_fails_without_storm(
    session: aiohttp.ClientSession, frigate: FakeFrigate
) -> None:
    """Refused credentials show as an error; later events do not hammer the login."""
    sink = _sink(session, frigate, password="wrong-password")
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    for _ in range(5):
        dispatcher.dispatch(make_event())
    await dispatcher.async_drain()
    await dispatcher.async_stop()
    logins = [r for r in frigate.requests if r[1] == "/api/login"]
    assert len(logins) == 1
    assert sink.state.failed == 5
    assert sink.state.last_error is not None
    assert "wrong-password" not in sink.state.last_error
    assert frigate.events == {}


async def test_unknown_camera_is_flagged_once(
    session: aiohttp.ClientSession, frigate: FakeFrigate
) -> None:
    """Frigate's 404 for a camera flags it; no more requests go out for that camera."""
    mapping = {"Front Door": "front_door", "Attic": "attic"}
    sink = FrigateSink(
        session,
        frigate.url,
        mapping.get,
        username="admin",
        password="s3cret!",
        backoff=0.01,
    )
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    for _ in range(4):
        dispatcher.dispatch(make_event(camera="Attic"))
    dispatcher.dispatch(make_event(camera="Front Door"))
    dispatcher.dispatch(make_event(camera="Not Mapped"))
    await dispatcher.async_drain()
    await dispatcher.async_stop()
    attic = [r for r in frigate.requests if "/attic/" in r[1]]
    assert len(attic) == 1
    status = sink.status()
    assert status["unknown_cameras"] == ["attic"]
    assert status["last_error"] == "attic is not a valid camera."
    assert status["failed"] == 1
    assert status["sent"] == 1
    assert [r[0] for r in frigate.requests if r[1].endswith("/end")] == [
        "PUT"
    ]  # on stop


async def test_server_errors_retry_then_fail(
    session: aiohttp.ClientSession, frigate: FakeFrigate
) -> None:
    """500s are retried with backoff; past the retries the event counts as failed."""
    sink = _sink(session, frigate, retries=2)
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    await dispatcher.async_drain()
    frigate.fail_statuses = [500, 502]  # recovers on the third attempt
    dispatcher.dispatch(make_event())
    await dispatcher.async_drain()
    assert len(frigate.events) == 1
    assert sink.state.failed == 0

    frigate.fail_statuses = [500, 500, 500]
    dispatcher.dispatch(make_event())
    await dispatcher.async_drain()
    assert len(frigate.events) == 1
    assert sink.state.failed == 1
    assert sink.state.last_error is not None
    assert "HTTP 500" in sink.state.last_error
    assert sink.state.connected is False
    await dispatcher.async_stop()


async def test_timeouts_retry_then_fail(
    session: aiohttp.ClientSession, frigate: FakeFrigate
) -> None:
    """A Frigate that never answers in time costs retries, then one failure."""
    sink = _sink(session, frigate, retries=1, timeout=0.05)
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    await dispatcher.async_drain()
    frigate.delay = 1.0
    dispatcher.dispatch(make_event())
    await dispatcher.async_drain()
    frigate.delay = 0.0
    await dispatcher.async_stop()
    creates = [r for r in frigate.requests if r[1].endswith("/create")]
    assert len(creates) == 2
    assert sink.state.failed == 1
    assert "TimeoutError" in (sink.state.last_error or "")


async def test_validate_frigate(
    session: aiohttp.ClientSession, frigate: FakeFrigate
) -> None:
    """Validation passes with good credentials and maps failures to the flow's errors."""
    await async_validate_frigate(session, frigate.url, "admin", "s3cret!")
    await async_validate_frigate(session, frigate.url, None, None)
    with pytest.raises(InvalidAuth):
        await async_validate_frigate(session, frigate.url, "admin", "nope")
    with pytest.raises(CannotConnect):
        await async_validate_frigate(session, "http://127.0.0.1:9", None, None)
    with pytest.raises(CannotConnect):
        await async_validate_frigate(session, "not a url", None, None)
