"""AMQP sink against the real RabbitMQ on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
import json
from pathlib import Path
import uuid

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
import pytest

from custom_components.camera_alerts.handlers.amqp import AmqpSink, async_validate_amqp
from custom_components.camera_alerts.handlers.dispatcher import Dispatcher
from custom_components.camera_alerts.handlers.errors import CannotConnect, InvalidAuth
from custom_components.camera_alerts.models import EventType

from .conftest import (
    RABBITMQ_HOST,
    RABBITMQ_PORT,
    RABBITMQ_URL,
    TcpProxy,
    make_event,
    track_events,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


class Consumer:
    """An exclusive queue bound to a test's own exchange, collecting every message."""

    def __init__(self) -> None:
        self.messages: list[AbstractIncomingMessage] = []
        self.arrived = asyncio.Condition()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        async with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()

    async def wait_for(self, count: int, within: float = 20.0) -> None:
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: len(self.messages) >= count)

    def unique_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for message in self.messages:
            assert message.message_id is not None
            seen.setdefault(message.message_id, None)
        return list(seen)


@pytest.fixture
def exchange_name() -> str:
    """Return an exchange of this test only, so parallel tests never mix."""
    return f"camera_alerts_test_{uuid.uuid4().hex}"


@asynccontextmanager
async def bound_consumer(exchange_name: str, routing_key: str) -> AsyncIterator[Consumer]:
    """Consume what the test's exchange routes to `routing_key`; delete the exchange after."""
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True, auto_delete=False
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key=routing_key)
    result = Consumer()
    await queue.consume(result.on_message, no_ack=True)
    try:
        yield result
    finally:
        await exchange.delete()
        await connection.close()


@pytest.fixture
async def consumer(exchange_name: str) -> AsyncGenerator[Consumer]:
    """Consume everything published to the test's exchange."""
    async with bound_consumer(exchange_name, "#") as result:
        yield result


async def test_every_event_arrives_with_key_body_and_id(
    tmp_path: Path, exchange_name: str, consumer: Consumer
) -> None:
    """Each event reaches a real consumer, in order, with the documented fields."""
    sink = AmqpSink(RABBITMQ_URL, exchange_name, tmp_path / "outbox.jsonl")
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    events = [make_event(camera="Front Door", label="person", event_type=EventType.NEW)]
    events += track_events(30, camera="Back Yard", label="Dog")
    for event in events:
        dispatcher.dispatch(event)
    await consumer.wait_for(len(events))
    await dispatcher.async_stop()

    assert len(consumer.messages) == len(events)
    first = consumer.messages[0]
    assert first.routing_key == "front_door.person.new"
    assert first.content_type == "application/json"
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert first.message_id == f"{events[0].event_id}:new:1"
    assert json.loads(first.body) == events[0].as_dict()
    assert consumer.messages[2].routing_key == "back_yard.dog.update"
    assert [json.loads(m.body) for m in consumer.messages] == [
        e.as_dict() for e in events
    ]
    assert len(consumer.unique_ids()) == len(events)
    status = sink.status()
    assert status["sent"] == len(events)
    assert status["queued"] == 0
    assert status["outbox_size"] == 0
    assert status["dropped"] == 0
    assert not (tmp_path / "outbox.jsonl").exists()


async def test_unroutable_messages_count_as_failed(
    tmp_path: Path, exchange_name: str
) -> None:
    """Published mandatory: a message no queue takes is failed, not sent, and blocks nothing."""
    sink = AmqpSink(RABBITMQ_URL, exchange_name, tmp_path / "outbox.jsonl")
    dispatcher = Dispatcher([sink])
    events = [
        *track_events(1, camera="Gate", label="person"),
        *track_events(1, camera="Gate", label="car"),
        *track_events(1, camera="Gate", label="person"),
    ]
    # A consumer that only wants people.
    async with bound_consumer(exchange_name, "*.person.*") as people:
        await dispatcher.async_start()
        try:
            for event in events:
                dispatcher.dispatch(event)
            await people.wait_for(6)
            async with asyncio.timeout(20):
                # Polling on purpose: the counters change inside the sink, no event to await.
                while sink.state.sent + sink.state.failed < len(events):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        finally:
            await dispatcher.async_stop()

    assert [json.loads(m.body)["label"] for m in people.messages] == ["person"] * 6
    status = sink.status()
    assert (status["sent"], status["failed"]) == (6, 3)
    assert status["outbox_size"] == 0
    assert status["connected"] is False  # stopped
    assert "gate.car.new" in status["last_error"]


async def test_broker_outage_loses_nothing(
    tmp_path: Path, exchange_name: str, consumer: Consumer
) -> None:
    """The broker goes away mid-stream and comes back: every event arrives, in order."""
    proxy = TcpProxy(RABBITMQ_HOST, RABBITMQ_PORT)
    await proxy.async_start()
    url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
    sink = AmqpSink(
        url, exchange_name, tmp_path / "outbox.jsonl", retry_min=0.2, retry_max=0.5
    )
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    events = track_events(100)
    try:
        for event in events[:100]:
            dispatcher.dispatch(event)
        await consumer.wait_for(100)

        await proxy.async_stop()
        for event in events[100:200]:
            dispatcher.dispatch(event)
            await asyncio.sleep(0)
        # Let the sink find out the broker is gone.
        for _ in range(200):
            if not sink.state.connected:
                break
            await asyncio.sleep(0.05)
        assert not sink.state.connected
        assert sink.state.last_error is not None
        assert sink.status()["outbox_size"] > 0

        await proxy.async_start()
        for event in events[200:]:
            dispatcher.dispatch(event)
        unique = 0
        for _ in range(400):
            unique = len(consumer.unique_ids())
            if unique >= len(events):
                break
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.async_stop()
        await proxy.async_stop()

    expected_ids = [f"{e.event_id}:{e.type}:{n}" for n, e in enumerate(events, 1)]
    received = consumer.unique_ids()
    # At-least-once: duplicates may appear, only ever with the same message id.
    assert sorted(received) == sorted(expected_ids)
    assert received == expected_ids  # first arrivals are in order
    assert proxy.connections >= 2
    assert sink.status()["outbox_size"] == 0


async def test_outbox_survives_a_new_sink(
    tmp_path: Path, exchange_name: str, consumer: Consumer
) -> None:
    """Events accepted while the broker is unreachable go out from a new sink instance."""
    path = tmp_path / "outbox.jsonl"
    # Nothing listens on this proxy's port once it is stopped.
    proxy = TcpProxy(RABBITMQ_HOST, RABBITMQ_PORT)
    await proxy.async_start()
    await proxy.async_stop()
    dead_url = f"amqp://guest:secret@127.0.0.1:{proxy.port}/"
    first = AmqpSink(dead_url, exchange_name, path, retry_min=0.1, retry_max=0.2)
    dispatcher = Dispatcher([first])
    await dispatcher.async_start()
    events = track_events(10)
    for event in events:
        dispatcher.dispatch(event)
    for _ in range(100):
        if first.state.last_error:
            break
        await asyncio.sleep(0.02)
    await dispatcher.async_stop()
    assert "secret" not in (first.state.last_error or "")
    assert first.status()["outbox_size"] == len(events)
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(events)
    assert consumer.messages == []

    second = AmqpSink(RABBITMQ_URL, exchange_name, path)
    dispatcher = Dispatcher([second])
    await dispatcher.async_start()
    extra = make_event(event_type=EventType.NEW)
    dispatcher.dispatch(extra)
    await consumer.wait_for(len(events) + 1)
    await dispatcher.async_stop()

    ids = [m.message_id for m in consumer.messages]
    assert ids == [
        f"{e.event_id}:{e.type}:{n}" for n, e in enumerate([*events, extra], 1)
    ]
    assert not path.exists()


async def test_outbox_bound_drops_oldest(tmp_path: Path, exchange_name: str) -> None:
    """A full outbox drops the oldest events, counts them and raises the repair flag."""
    proxy = TcpProxy(RABBITMQ_HOST, RABBITMQ_PORT)
    await proxy.async_start()
    await proxy.async_stop()
    sink = AmqpSink(
        f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
        exchange_name,
        tmp_path / "outbox.jsonl",
        max_outbox=5,
        retry_min=0.1,
    )
    dispatcher = Dispatcher([sink])
    await dispatcher.async_start()
    events = track_events(3)
    for event in events:
        dispatcher.dispatch(event)
    await dispatcher.async_stop()
    assert sink.outbox_overflowed
    assert sink.status()["dropped"] == 4
    assert [record.event for record in sink.outbox] == events[4:]


async def test_validate_amqp(exchange_name: str) -> None:
    """Validation accepts the real broker and maps failures to the flow's errors."""
    await async_validate_amqp(RABBITMQ_URL, exchange_name)
    with pytest.raises(InvalidAuth) as auth_err:
        await async_validate_amqp(
            f"amqp://guest:wrong-pass@{RABBITMQ_HOST}:{RABBITMQ_PORT}/", exchange_name
        )
    assert "wrong-pass" not in str(auth_err.value)
    proxy = TcpProxy(RABBITMQ_HOST, RABBITMQ_PORT)
    await proxy.async_start()
    await proxy.async_stop()
    with pytest.raises(CannotConnect):
        await async_validate_amqp(
            f"amqp://guest:guest@127.0.0.1:{proxy.port}/", exchange_name
        )
    with pytest.raises(CannotConnect):
        await async_validate_amqp("not a url", exchange_name)
    # Cleanup: the validation declared the exchange durably.
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    await channel.exchange_delete(exchange_name)
    await connection.close()
