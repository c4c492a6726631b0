"""Throughput and added latency of the three sinks against real brokers.

Runs inside a minimal Home Assistant instance (pytest-homeassistant-custom-component's
`async_test_home_assistant`) with HA's real MQTT integration connected to Mosquitto
on 127.0.0.1:1883, RabbitMQ on 127.0.0.1:5672 and the local Frigate stand-in
(tests/handlers/frigate_server.py). Every event goes through the Dispatcher.

Two phases:
1. burst: all events dispatched at once; events/s = events / time until the last
   one arrived at each consumer (consumers count what they receive: zero loss
   is checked, not assumed).
2. paced: events dispatched at a fixed rate (default 500/s); added latency per
   sink = arrival at the consumer minus dispatch (median, p95).

Usage: .venv/bin/python benchmarks/bench_sinks.py [--tracks 1000] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid

import aio_pika
import paho.mqtt.client as paho

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from homeassistant.const import __version__ as HA_VERSION
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.camera_alerts.handlers.amqp import AmqpSink
from custom_components.camera_alerts.handlers.dispatcher import Dispatcher
from custom_components.camera_alerts.handlers.frigate import FrigateSink
from custom_components.camera_alerts.handlers.mqtt import MqttSink
from custom_components.camera_alerts.models import (
    DetectionEvent,
    EventType,
)
from tests.handlers.frigate_server import FakeFrigate

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
STEPS = (EventType.NEW, EventType.UPDATE, EventType.END)


def machine() -> str:
    """Describe the machine the figures come from."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {model}, "
        f"{os.cpu_count()} logical CPUs, Python {platform.python_version()}, HA {HA_VERSION}"
    )


def make_events(tracks: int, run: str) -> list[DetectionEvent]:
    """Return new/update/end for `tracks` tracks on two cameras."""
    events = []
    now = datetime.now(UTC)
    for track in range(tracks):
        camera = "Front Door" if track % 2 else "Garage"
        events.extend(
            DetectionEvent(
                camera=camera,
                entity_id=None,
                label="person",
                class_id=0,
                score=0.9,
                box={"x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4},
                frame_width=1280,
                frame_height=720,
                track_id=track,
                type=step,
                event_id=f"{run}-{track}",
                timestamp=now,
            )
            for step in STEPS
        )
    return events


class Arrivals:
    """Thread-safe first-arrival times keyed by (event_id, type)."""

    def __init__(self) -> None:
        self.times: dict[tuple[str, str], float] = {}
        self.messages = 0
        self._lock = threading.Lock()

    def add(self, key: tuple[str, str]) -> None:
        now = time.perf_counter()
        with self._lock:
            self.messages += 1
            self.times.setdefault(key, now)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_phase(
    hass: object,
    name: str,
    events: list[DetectionEvent],
    rate: float | None,
    sinks_factory: object,
    frigate: FakeFrigate,
    amqp: Arrivals,
    mqtt_: Arrivals,
) -> dict[str, object]:
    """Dispatch `events` (burst or paced) and collect per-sink figures."""
    dispatcher: Dispatcher = sinks_factory()  # type: ignore[operator]
    await dispatcher.async_start()
    await dispatcher.async_drain()
    creates_before = len(frigate.events)
    frigate_times: list[float] = []
    frigate.on_create = lambda: frigate_times.append(time.perf_counter())  # type: ignore[attr-defined]
    sent: dict[tuple[str, str], float] = {}
    start = time.perf_counter()
    interval = 1 / rate if rate else 0.0
    for index, event in enumerate(events):
        if rate:
            # Pace against the schedule, not the previous send, so errors do not add up.
            delay = start + index * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        sent[(event.event_id, str(event.type))] = time.perf_counter()
        dispatcher.dispatch(event)
    dispatch_done = time.perf_counter()
    keys = set(sent)
    news = [e for e in events if e.type is EventType.NEW]
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        if (
            keys <= amqp.times.keys()
            and keys <= mqtt_.times.keys()
            and len(frigate_times) >= len(news)
        ):
            break
        await asyncio.sleep(0.01)
    await dispatcher.async_drain()
    status = dispatcher.status()
    await dispatcher.async_stop()

    result: dict[str, object] = {"phase": name, "events": len(events)}
    result["dispatch_seconds"] = dispatch_done - start
    for sink, arrivals in (("amqp", amqp), ("mqtt", mqtt_)):
        got = [arrivals.times[k] - sent[k] for k in keys if k in arrivals.times]
        last = max(arrivals.times[k] for k in keys if k in arrivals.times)
        result[sink] = {
            "received": len(got),
            "lost": len(keys) - len(got),
            "events_per_s": len(got) / (last - start),
            "latency_ms_median": statistics.median(got) * 1000,
            "latency_ms_p95": pct(got, 0.95) * 1000,
            "status": status[sink],
        }
    fr = [
        t - sent[(e.event_id, "new")] for e, t in zip(news, frigate_times, strict=False)
    ]
    result["frigate"] = {
        "creates": len(frigate.events) - creates_before,
        "expected_creates": len(news),
        "lost": len(news) - len(fr),
        "creates_per_s": len(fr) / (max(frigate_times) - start) if fr else 0.0,
        "events_per_s_handled": len(events) / (max(frigate_times) - start)
        if fr
        else 0.0,
        "latency_ms_median": statistics.median(fr) * 1000 if fr else None,
        "latency_ms_p95": pct(fr, 0.95) * 1000 if fr else None,
        "status": status["frigate"],
    }
    return result


async def main(tracks: int, rate: float) -> None:
    """Run both phases and print the figures."""
    print(f"machine: {machine()}")
    run_id = uuid.uuid4().hex[:8]
    exchange_name = f"camera_alerts_bench_{run_id}"
    prefix = f"camera_alerts_bench/{run_id}"

    # Consumers first, so nothing is published before anyone listens.
    amqp_arrivals, mqtt_arrivals = Arrivals(), Arrivals()
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "#")

    async def on_amqp(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        body = json.loads(message.body)
        amqp_arrivals.add((body["event_id"], body["type"]))

    await queue.consume(on_amqp, no_ack=True)

    subscribed = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)

    def on_mqtt(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        mqtt_arrivals.add((body["event_id"], body["type"]))

    client.on_message = on_mqtt
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", 1883)
    client.subscribe(f"{prefix}/events", qos=1)
    client.loop_start()
    await asyncio.get_running_loop().run_in_executor(None, subscribed.wait, 10)

    frigate = FakeFrigate(cameras={"front_door", "garage"}, users={"admin": "bench"})
    original_create = frigate._create

    async def counting_create(request):  # type: ignore[no-untyped-def]
        response = await original_create(request)
        if response.status == 200:
            frigate.on_create()  # type: ignore[attr-defined]
        return response

    frigate._create = counting_create  # type: ignore[method-assign]
    await frigate.async_start()

    with tempfile.TemporaryDirectory() as config_dir:
        Path(config_dir, "configuration.yaml").write_text("", encoding="utf-8")
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            entry = MockConfigEntry(
                domain="mqtt", data={"broker": "127.0.0.1", "port": 1883}
            )
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            web = async_get_clientsession(hass)
            outbox = Path(config_dir, "outbox.jsonl")
            cameras = {"Front Door": "front_door", "Garage": "garage"}

            def factory() -> Dispatcher:
                return Dispatcher(
                    [
                        MqttSink(hass, prefix),
                        AmqpSink(RABBITMQ_URL, exchange_name, outbox),
                        FrigateSink(
                            web,
                            frigate.url,
                            cameras,
                            username="admin",
                            password="bench",
                        ),
                    ],
                    queue_size=tracks * 3,
                )

            results = []
            results.append(
                await run_phase(
                    hass,
                    "burst",
                    make_events(tracks, f"b{run_id}"),
                    None,
                    factory,
                    frigate,
                    amqp_arrivals,
                    mqtt_arrivals,
                )
            )
            results.append(
                await run_phase(
                    hass,
                    f"paced {rate:.0f}/s",
                    make_events(tracks, f"p{run_id}"),
                    rate,
                    factory,
                    frigate,
                    amqp_arrivals,
                    mqtt_arrivals,
                )
            )
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
            await hass.async_stop(force=True)

    client.loop_stop()
    client.disconnect()
    await frigate.async_stop()
    await exchange.delete()
    await connection.close()

    for result in results:
        print(
            f"\n== {result['phase']}: {result['events']} events "
            f"({tracks} tracks x new/update/end), dispatch took "
            f"{result['dispatch_seconds'] * 1000:.1f} ms"
        )
        for sink in ("amqp", "mqtt"):
            r = result[sink]
            print(
                f"  {sink:7s} received {r['received']}/{result['events']} lost {r['lost']} "
                f"| {r['events_per_s']:.0f} events/s | added latency median "
                f"{r['latency_ms_median']:.2f} ms p95 {r['latency_ms_p95']:.2f} ms "
                f"| sent {r['status']['sent']} failed {r['status']['failed']} "
                f"dropped {r['status']['dropped']}"
            )
        f = result["frigate"]
        lat = (
            f"median {f['latency_ms_median']:.2f} ms p95 {f['latency_ms_p95']:.2f} ms"
            if f["latency_ms_median"] is not None
            else "n/a"
        )
        print(
            f"  frigate creates {f['creates']}/{f['expected_creates']} lost {f['lost']} "
            f"| {f['creates_per_s']:.0f} creates/s ({f['events_per_s_handled']:.0f} events/s "
            f"handled) | added latency {lat} | sent {f['status']['sent']} "
            f"failed {f['status']['failed']} dropped {f['status']['dropped']}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    asyncio.run(main(args.tracks, args.rate))
