"""Publish detection events to a RabbitMQ topic exchange, losing none that were accepted.

Every event goes into the persistent outbox first (see `outbox.py`); a single
publisher task sends the oldest records in order over an aio-pika robust
connection with publisher confirms, and removes a record only after the broker
confirmed it. While the broker is away records wait (up to the outbox bound,
then the oldest are dropped and counted); they go out in order once it is back,
also after a restart, since a new sink on the same file picks them up.

Message ids: `event_id` identifies a track, and one track yields several
messages (new, update..., end), so it cannot be the message id by itself. Each
message gets `message_id = f"{event_id}:{type}:{seq}"`, where `seq` is the
record's outbox sequence number. That id is unique per message and stays the
same when the message is sent again after a lost confirm or a crash, so
consumers can de-duplicate (delivery is at-least-once). The body carries the
full event data, `event_id` included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from aiormq.abc import DeliveredMessage
import aiormq.exceptions
from homeassistant.core import callback
from homeassistant.util import slugify
from pamqp.commands import Basic
from yarl import URL

from ..models import DetectionEvent
from .base import BufferedSink, redact, url_secrets
from .errors import CannotConnect, InvalidAuth
from .outbox import DEFAULT_MAX_EVENTS, Outbox, OutboxRecord

_LOGGER = logging.getLogger(__name__)

DEFAULT_WINDOW = 100
CONNECT_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 10.0
RETRY_MIN = 1.0
RETRY_MAX = 30.0


class UnconfirmedError(Exception):
    """The broker did not acknowledge a message (nack or return)."""


def routing_key(event: DetectionEvent) -> str:
    """Return `<camera>.<label>.<type>` with each part slugified (no stray dots)."""
    return f"{slugify(event.camera)}.{slugify(event.label)}.{event.type}"


def message_id(record: OutboxRecord) -> str:
    """Return the per-message id that stays stable across redeliveries."""
    return f"{record.event.event_id}:{record.event.type}:{record.seq}"


def build_message(record: OutboxRecord) -> aio_pika.Message:
    """Return the persistent JSON message for a record."""
    event = record.event
    return aio_pika.Message(
        body=json.dumps(event.as_dict()).encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message_id(record),
        timestamp=event.timestamp,
        type=str(event.type),
        app_id="camera_alerts",
    )


def _robust_url(url: str, reconnect_interval: float) -> URL:
    parsed = URL(url)
    if "reconnect_interval" in parsed.query:
        return parsed
    return parsed.update_query(reconnect_interval=str(reconnect_interval))


class AmqpSink(BufferedSink):
    """Persistent, confirmed, in-order delivery to a durable topic exchange."""

    def __init__(
        self,
        url: str,
        exchange: str,
        outbox_path: Path,
        *,
        name: str = "amqp",
        max_outbox: int = DEFAULT_MAX_EVENTS,
        window: int = DEFAULT_WINDOW,
        retry_min: float = RETRY_MIN,
        retry_max: float = RETRY_MAX,
        connect_timeout: float = CONNECT_TIMEOUT,
        publish_timeout: float = PUBLISH_TIMEOUT,
    ) -> None:
        """Initialise the sink; `outbox_path` is the JSON-lines file of this entry."""
        super().__init__(name)
        self._url = url
        self._exchange_name = exchange
        self._window = window
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self.outbox = Outbox(outbox_path, max_outbox)
        self._secrets = url_secrets(url)
        self._loaded = False
        self._before_load: list[DetectionEvent] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._problem_logged = False
        self._unroutable_keys: set[str] = set()

    @property
    def safe_url(self) -> str:
        """Return the URL without its password (for logs and diagnostics)."""
        return redact(self._url, self._secrets)

    @property
    def outbox_overflowed(self) -> bool:
        """Return True when events were dropped from a full outbox (a repair issue)."""
        return self.outbox.overflowed

    def status(self) -> dict[str, Any]:
        """Return the status with the outbox figures."""
        return {**super().status(), **self.outbox.status()}

    async def async_start(self) -> None:
        """Load what a previous run left and start the publisher task."""
        if self._task is not None:
            return
        await self._async_load()
        self._wakeup.set()
        self._task = asyncio.get_running_loop().create_task(
            self._async_run(), name=f"camera_alerts sink {self.name} publisher"
        )

    async def _async_load(self) -> None:
        if self._loaded:
            return
        loaded = await self.outbox.async_load()
        if loaded:
            _LOGGER.info("Resuming delivery of %s queued AMQP event(s)", loaded)
        self._loaded = True
        for event in self._before_load:
            self.outbox.append(event)
        self._before_load.clear()
        self._sync_counters()

    @callback
    def accept(self, event: DetectionEvent) -> None:
        """Queue the event in the outbox; the publisher task sends it."""
        if not self._loaded:
            # Sequence numbers continue the file, so wait for it to be read.
            self._before_load.append(event)
            if len(self._before_load) > self.outbox.max_events:
                del self._before_load[0]
                self.outbox.dropped += 1
            self._sync_counters()
            return
        self.outbox.append(event)
        self._sync_counters()
        self._wakeup.set()

    def _sync_counters(self) -> None:
        self.state.queued = len(self.outbox) + len(self._before_load)
        self.state.dropped = self.outbox.dropped

    async def async_stop(self) -> None:
        """Stop publishing, close the connection and persist what is left."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._async_close_connection()
        # Stopped before the start finished: still persist what was accepted.
        await self._async_load()
        await self.outbox.async_close()
        self._set_connected(False)

    async def _async_close_connection(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._connect_timeout):
                    await connection.close()

    async def _async_connect(self) -> AbstractExchange:
        connecting = asyncio.ensure_future(
            aio_pika.connect_robust(
                _robust_url(self._url, self._retry_min), timeout=self._connect_timeout
            )
        )
        try:
            connection = await asyncio.shield(connecting)
        except asyncio.CancelledError:
            # Stopped mid-connect (an entry reload): close what the connect opens,
            # or its reader/writer tasks outlive the sink.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._connect_timeout):
                    await (await connecting).close()
            raise
        self._connection = connection
        connection.close_callbacks.add(self._on_connection_lost)
        connection.reconnect_callbacks.add(self._on_reconnected)
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._exchange = exchange
        return exchange

    def _on_connection_lost(self, *_: Any) -> None:
        self._set_connected(False)

    def _on_reconnected(self, *_: Any) -> None:
        self._set_connected(True)
        self._wakeup.set()

    async def _async_run(self) -> None:
        """Connect, then publish the outbox head in confirmed windows, forever."""
        delay = self._retry_min
        while True:
            try:
                exchange = self._exchange or await self._async_connect()
                self._set_connected(True)
                while True:
                    if not len(self.outbox):
                        self._wakeup.clear()
                        await self._wakeup.wait()
                        continue
                    await self._async_publish_window(exchange)
                    delay = self._retry_min
                    if self._problem_logged:
                        self._problem_logged = False
                        _LOGGER.info("AMQP delivery to %s resumed", self.safe_url)
            except asyncio.CancelledError:
                raise
            except (
                Exception
            ) as err:  # any broker or network failure means: wait, then retry
                self._async_note_problem(err)
                if self._connection is None or self._exchange is None:
                    await self._async_close_connection()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)

    async def _async_publish_window(self, exchange: AbstractExchange) -> None:
        """Publish up to `window` records; remove the settled prefix, raise on failure.

        Messages are mandatory: the broker returns one that no queue takes
        (its confirm alone would say nothing about that). A returned message is
        settled as failed, not retried: resending cannot route it, and it would
        hold back every later event.
        """
        records = self.outbox.peek(self._window)
        async with asyncio.timeout(self._publish_timeout):
            results = await asyncio.gather(
                *(
                    exchange.publish(
                        build_message(record),
                        routing_key=routing_key(record.event),
                        mandatory=True,
                    )
                    for record in records
                ),
                return_exceptions=True,
            )
        settled: OutboxRecord | None = None
        returned: list[OutboxRecord] = []
        failure: BaseException | None = None
        for record, result in zip(records, results, strict=True):
            if isinstance(result, BaseException):
                failure = result
                break
            if isinstance(result, DeliveredMessage):
                returned.append(record)
            elif not isinstance(result, Basic.Ack):
                failure = UnconfirmedError(f"broker answered {type(result).__name__}")
                break
            settled = record
        if settled is not None:
            removed = self.outbox.ack(settled.seq)
            self._sync_counters()
            if removed > len(returned):
                self._record_success(removed - len(returned))
            if returned:
                self._note_returned(returned)
        if failure is not None:
            # Later records of the window are resent too (same message ids): order wins.
            raise failure

    def _note_returned(self, returned: list[OutboxRecord]) -> None:
        keys = sorted({routing_key(record.event) for record in returned})
        message = f"no queue takes routing key {', '.join(keys)} (message returned)"
        self._record_error(message, failed=len(returned))
        new_keys = set(keys) - self._unroutable_keys
        if new_keys:
            # Once per routing key: a consumer may simply not care about a label.
            self._unroutable_keys |= new_keys
            _LOGGER.warning(
                "RabbitMQ exchange %s has no queue for %s; those events are counted "
                "as failed",
                self._exchange_name,
                ", ".join(sorted(new_keys)),
            )

    def _async_note_problem(self, err: BaseException) -> None:
        message = redact(f"{type(err).__name__}: {err}", self._secrets)
        self.state.connected = False
        self._record_error(message, failed=0)
        if not self._problem_logged:
            # One line per outage; the status and sensors carry the rest.
            self._problem_logged = True
            _LOGGER.warning(
                "AMQP broker %s unavailable (%s); events wait in the outbox",
                self.safe_url,
                message,
            )


async def async_validate_amqp(url: str, exchange: str) -> None:
    """Check the URL, credentials and exchange; raise CannotConnect or InvalidAuth."""
    secrets = url_secrets(url)
    try:
        connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT)
    except (
        aiormq.exceptions.ProbableAuthenticationError,
        aiormq.exceptions.AuthenticationError,
    ) as err:
        raise InvalidAuth(redact(str(err), secrets)) from err
    except (
        Exception
    ) as err:  # bad URL, refused, timeout, TLS: all mean the flow cannot connect
        raise CannotConnect(redact(f"{type(err).__name__}: {err}", secrets)) from err
    try:
        channel = await connection.channel()
        await channel.declare_exchange(
            exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
    except aiormq.exceptions.ChannelAccessRefused as err:
        raise InvalidAuth(redact(str(err), secrets)) from err
    except Exception as err:  # e.g. the exchange exists with another type
        raise CannotConnect(redact(f"{type(err).__name__}: {err}", secrets)) from err
    finally:
        with contextlib.suppress(Exception):
            await connection.close()
