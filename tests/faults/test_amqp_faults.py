"""AMQP sink faults through a whole integration entry: a broker restart, an HA restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import json
from pathlib import Path
import uuid

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from homeassistant.core import HomeAssistant
import pytest

from custom_components.camera_alerts.handlers.amqp import AmqpSink
from custom_components.camera_alerts.models import DetectionEvent, EventType
from custom_components.camera_alerts.sinks import outbox_path

from ..camera_helpers import wait_until
from ..camera_sources.media import free_port
from ..conftest import setup_integration
from ..handlers.conftest import RABBITMQ_URL, make_event, track_events
from .conftest import RabbitNode
from .helpers import (
    amqp_options,
    declare_durable_queue,
    get_status,
    hub_with_options,
    read_queue,
    use_config_dir,
)

pytestmark = [pytest.mark.usefixtures("mock_host_stats", "socket_enabled"), pytest.mark.slow]

STEPS = (EventType.NEW, EventType.UPDATE, EventType.UPDATE, EventType.END)


def four_step_tracks(count: int) -> list[DetectionEvent]:
    """Return `count` tracks of new, update, update, end (4 * count events)."""
    events: list[DetectionEvent] = []
    for _ in range(count):
        first = make_event(event_type=EventType.NEW)
        events.append(first)
        events.extend(
            make_event(event_type=step, track_id=first.track_id) for step in STEPS[1:]
        )
    return events


def expected_id(event: DetectionEvent, seq: int) -> str:
    """The message id the sink gives the `seq`-th accepted event of a fresh outbox."""
    return f"{event.event_id}:{event.type}:{seq}"


def amqp_sink(hass_entry: object) -> AmqpSink:
    sinks = hass_entry.runtime_data.dispatcher.sinks  # type: ignore[attr-defined]
    found = [sink for sink in sinks if isinstance(sink, AmqpSink)]
    assert len(found) == 1
    return found[0]


async def dispatch_slowly(hass: HomeAssistant, entry: object, events: list[DetectionEvent]) -> None:
    """Dispatch one event per loop turn with a short pause, like a busy camera."""
    dispatcher = entry.runtime_data.dispatcher  # type: ignore[attr-defined]
    for event in events:
        dispatcher.dispatch(event)
        await asyncio.sleep(0.01)


async def test_private_broker_restarted_mid_stream(
    hass: HomeAssistant, tmp_path: Path, rabbit_node: RabbitNode
) -> None:
    """200 events, the broker's app stopped and started in the middle: all arrive, once each id."""
    use_config_dir(hass, tmp_path)
    exchange = f"camera_alerts_fault_{uuid.uuid4().hex}"
    queue = f"{exchange}.all"
    # Durable and bound before the stream: messages wait there while nobody consumes.
    await declare_durable_queue(rabbit_node.url, exchange, queue)
    entry = hub_with_options(amqp_options(rabbit_node.url, exchange))
    await setup_integration(hass, entry)
    sink = amqp_sink(entry)
    await wait_until(lambda: sink.state.connected)

    events = four_step_tracks(50)
    assert len(events) == 200
    before, during, after = events[:80], events[80:140], events[140:]

    await dispatch_slowly(hass, entry, before)
    await hass.async_add_executor_job(rabbit_node.stop_app)
    await wait_until(lambda: not sink.state.connected)
    down = await get_status(hass)
    assert down["handlers"]["amqp"]["connected"] is False
    sent_when_down = sink.state.sent

    await dispatch_slowly(hass, entry, during)
    # Nothing can be confirmed while the broker is away; every event waits in the outbox.
    assert sink.state.sent == sent_when_down
    assert sink.status()["outbox_size"] == 140 - sent_when_down
    assert sink.state.queued == 140 - sent_when_down
    await wait_until(lambda: sink.state.last_error is not None)

    await hass.async_add_executor_job(rabbit_node.start_app)
    await dispatch_slowly(hass, entry, after)
    await wait_until(lambda: sink.state.sent == 200 and sink.state.queued == 0, guard=90)

    status = (await get_status(hass))["handlers"]["amqp"]
    assert status["connected"] is True
    assert status["sent"] == 200
    assert status["failed"] == 0
    assert status["queued"] == 0
    assert status["dropped"] == 0
    assert status["outbox_size"] == 0
    assert status["outbox_overflow"] is False
    assert status["last_error"] is not None  # the outage was seen and reported
    await wait_until(
        lambda: hass.states.get("sensor.camera_alerts_amqp_sink").state == "connected"
    )

    received = await read_queue(rabbit_node.url, queue, at_least=200)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    wanted = {expected_id(event, seq): event for seq, event in enumerate(events, 1)}
    ids = [message.message_id for message in received]
    assert set(ids) == set(wanted)
    assert len(set(ids)) == 200
    # A message sent again (lost confirm) is the same message: same id, key and body.
    for message in received:
        event = wanted[message.message_id]
        assert message.body == event.as_dict()
        assert message.routing_key == f"front_door.person.{event.type}"
        assert message.persistent
    # Every event_id:type arrives at least once.
    seen_steps = {(m.body["event_id"], m.body["type"]) for m in received}
    assert seen_steps == {(e.event_id, str(e.type)) for e in events}
    # Order per track: first arrivals of each track follow its sequence numbers.
    first_seen: dict[str, list[int]] = {}
    for message_id in dict.fromkeys(ids):
        event_id, _, seq = message_id.rsplit(":", 2)
        first_seen.setdefault(event_id, []).append(int(seq))
    assert len(first_seen) == 50
    for seqs in first_seen.values():
        assert len(seqs) == 4
        assert seqs == sorted(seqs)
    for event_id, seqs in first_seen.items():
        assert [events[seq - 1].type for seq in seqs] == list(STEPS)
        assert {events[seq - 1].event_id for seq in seqs} == {event_id}


@pytest.fixture
async def shared_consumer() -> AsyncGenerator[tuple[str, list[AbstractIncomingMessage]]]:
    """An exclusive queue on the shared broker bound to an exchange of this test only."""
    exchange_name = f"camera_alerts_fault_{uuid.uuid4().hex}"
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key="#")
    messages: list[AbstractIncomingMessage] = []

    async def on_message(message: AbstractIncomingMessage) -> None:
        messages.append(message)

    await queue.consume(on_message, no_ack=True)
    yield exchange_name, messages
    await exchange.delete()
    await connection.close()


async def test_outbox_delivered_after_home_assistant_restart(
    hass: HomeAssistant,
    tmp_path: Path,
    shared_consumer: tuple[str, list[AbstractIncomingMessage]],
) -> None:
    """Events stuck in the outbox at shutdown go out, in order, from the next run."""
    config = use_config_dir(hass, tmp_path)
    exchange, messages = shared_consumer
    dead_url = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    entry = hub_with_options(amqp_options(dead_url, exchange))
    await setup_integration(hass, entry)
    sink = amqp_sink(entry)
    events = track_events(20)
    for event in events:
        entry.runtime_data.dispatcher.dispatch(event)
    await wait_until(lambda: sink.state.last_error is not None)
    status = (await get_status(hass))["handlers"]["amqp"]
    assert (status["connected"], status["sent"], status["queued"]) == (False, 0, 60)

    # Home Assistant stops: the entry unloads with 60 events undelivered.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    path = outbox_path(hass, entry.entry_id)
    assert path.parent == config / ".storage"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, 61))
    assert [line["event"] for line in lines] == [event.as_dict() for event in events]
    assert messages == []

    # Next start, with the broker reachable: a new runtime reads the same file.
    hass.config_entries.async_update_entry(entry, options=amqp_options(RABBITMQ_URL, exchange))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert amqp_sink(entry) is not sink
    await wait_until(lambda: len(messages) >= 60)
    extra = make_event(event_type=EventType.NEW)
    entry.runtime_data.dispatcher.dispatch(extra)
    await wait_until(lambda: len(messages) >= 61)
    await wait_until(lambda: amqp_sink(entry).state.queued == 0)

    assert [m.message_id for m in messages] == [
        expected_id(event, seq) for seq, event in enumerate([*events, extra], 1)
    ]
    assert [json.loads(m.body) for m in messages] == [e.as_dict() for e in [*events, extra]]
    status = (await get_status(hass))["handlers"]["amqp"]
    assert (status["connected"], status["sent"], status["queued"], status["failed"]) == (
        True,
        61,
        0,
        0,
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # Everything was confirmed: the outbox file is gone.
    assert not path.exists()
