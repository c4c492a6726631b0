"""The whole camera pipeline inside a running Home Assistant: fps, latency, CPU, loop lag.

N cameras (default 1, 2, 4 and 8) each read a generated 1280x720 H.264 clip at
5 frames/s (files are paced at their own rate and loop, like a live camera)
through the real integration: a hub config entry with one camera subentry per
camera, set up in a minimal Home Assistant instance
(pytest-homeassistant-custom-component's `async_test_home_assistant`). Every
frame goes StreamSource reader thread -> FrameSlot -> CameraProcessor thread
(motion gate, bundled ONNX detector, tracker, snapshots) -> the event loop,
which updates the entities and fires `camera_alerts_detection` bus events.

Two scenes, each run separately for every N:
- static: a still photo with fresh sensor noise in every frame (nothing happens);
- busy: a person walks in, stands, walks out, then 3.6 s of empty scene so the
  track ends; the clip loops, so every loop makes a new track (new/.../end).

Per configuration, after a warm-up, over a measurement window:
- processed fps per camera vs. the requested fps (results received on the
  event loop in the window / window length), and frames the processor skipped;
- the fraction of processed frames that reached the detector;
- result latency: loop receive time - frame capture time (ProcessorResult.captured_at,
  time.monotonic() when the reader put the frame in the slot), every result;
- event latency: the time a `camera_alerts_detection` bus listener runs - capture
  time of the frame that produced the event;
- CPU seconds per camera-minute: time.process_time() of the whole process (all
  threads: readers/decoders, processors, ONNX Runtime, the loop) over the window;
- event-loop lag: a task sleeps 10 ms in a loop and records actual - requested delay.

Usage:
  .venv/bin/python benchmarks/bench_pipeline.py [--quick] [--cameras 4] [--scenes static,busy]
      [--window 20] [--warmup 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
import math
import os
from pathlib import Path
import platform
import statistics
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from homeassistant import loader
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import Event, HomeAssistant, callback
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from benchmarks.machine import cpu_model
from custom_components.camera_alerts.camera_runtime import CameraRuntime
from custom_components.camera_alerts.const import (
    CONF_INFERENCE_THREADS,
    CONF_MODEL_PATH,
    DEFAULT_INFERENCE_THREADS,
    DOMAIN,
    EVENT_DETECTION,
)
from custom_components.camera_alerts.runtime import CameraAlertsRuntime
from tests.camera_helpers import camera_subentry
from tests.camera_sources.media import (
    make_clip,
    person_enters,
    static_scene,
)

if TYPE_CHECKING:
    # The only direct import of the integration's `pipeline/` package (types only).
    from custom_components.camera_alerts.pipeline.processor import ProcessorResult

SIZE = (1280, 720)
LAG_PERIOD_S = 0.010
# The busy clip: 1 s empty, 8 s person, 3.6 s empty; windows default to whole loops of it.
BUSY_SECONDS = (1.0, 8.0, 3.6)
BUSY_LOOP_S = sum(BUSY_SECONDS)
# Bounds the wait for every camera's first result; a broken setup fails instead of hanging.
START_GUARD_S = 90.0
THREAD_PREFIXES = ("camera_alerts.", "camera_alerts_")

TARGET_CAMERAS = 4
TARGETS = {
    "fps_fraction": 0.95,
    "event_p95_ms": 150.0,
    "loop_lag_p99_ms": 20.0,
    "static_cpu_factor": 5.0,
}


# ----------------------------------------------------------------------------- machine


def load1() -> float:
    """1-minute load average of the machine (other processes included)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def machine_lines(threads: int) -> list[str]:
    """Describe the machine and the software the figures come from."""
    usable = getattr(os, "process_cpu_count", os.cpu_count)()
    return [
        f"machine: {cpu_model()} ({platform.machine()}), {os.cpu_count()} logical CPUs "
        f"({usable} usable), {platform.system()} {platform.release()}",
        f"software: Python {platform.python_version()}, HA {HA_VERSION}, onnxruntime "
        f"{ort.__version__}, opencv {cv2.__version__}, numpy {np.__version__}; "
        f"inference threads {threads}",
    ]


# ----------------------------------------------------------------------------- clips


def busy_frames(fps: float) -> Iterator[Any]:
    """1 s empty, a person walking in / standing / out over 8 s, 3.6 s empty (track ends)."""
    empty_before, person, empty_after = BUSY_SECONDS
    return chain(
        static_scene(SIZE, round(fps * empty_before), seed=3),
        person_enters(SIZE, round(fps * person), seed=1),
        static_scene(SIZE, round(fps * empty_after), seed=2),
    )


def make_clips(directory: Path, fps: float) -> dict[str, Path]:
    """Write the two 1280x720 H.264 clips at `fps`."""
    return {
        "static": make_clip(
            directory / "static.mp4",
            static_scene(SIZE, round(fps * 10), seed=4),
            fps=fps,
            size=SIZE,
        ),
        "busy": make_clip(directory / "busy.mp4", busy_frames(fps), fps=fps, size=SIZE),
    }


# ----------------------------------------------------------------------------- recording


@dataclass(slots=True)
class ResultRecord:
    """One ProcessorResult as it reached the event loop."""

    received: float
    camera: str
    captured_at: float | None
    frames_processed: int
    frames_detected: int
    skipped_frames: int
    events: int


@dataclass
class Recorder:
    """Everything the patched `_handle_result` and the bus listener see."""

    results: list[ResultRecord] = field(default_factory=list)
    # (event_id, type) -> (captured_at, camera), filled before the event is fired.
    pending: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    # (time the listener ran, camera, latency s)
    events: list[tuple[float, str, float]] = field(default_factory=list)
    unmatched_events: int = 0

    def clear(self) -> None:
        self.results.clear()
        self.pending.clear()
        self.events.clear()
        self.unmatched_events = 0


RECORDER = Recorder()
_ORIGINAL_HANDLE_RESULT = CameraRuntime._handle_result


@callback
def _recording_handle_result(self: CameraRuntime, result: ProcessorResult) -> None:
    """Note when the result reached the loop, then run the integration's own handler."""
    received = time.monotonic()
    RECORDER.results.append(
        ResultRecord(
            received=received,
            camera=self.name,
            captured_at=result.captured_at,
            frames_processed=result.frames_processed,
            frames_detected=result.frames_detected,
            skipped_frames=result.skipped_frames,
            events=len(result.events),
        )
    )
    if result.captured_at is not None:
        for event in result.events:
            RECORDER.pending[(event.event_id, str(event.type))] = (
                result.captured_at,
                self.name,
            )
    _ORIGINAL_HANDLE_RESULT(self, result)


@callback
def _on_detection(event: Event) -> None:
    now = time.monotonic()
    key = (str(event.data["event_id"]), str(event.data["type"]))
    found = RECORDER.pending.pop(key, None)
    if found is None:
        RECORDER.unmatched_events += 1
        return
    captured_at, camera = found
    RECORDER.events.append((now, camera, now - captured_at))


async def lag_probe(samples: list[float], stop: asyncio.Event) -> None:
    """Sleep LAG_PERIOD_S in a loop; record how late every wake-up was."""
    while not stop.is_set():
        asked = time.monotonic()
        await asyncio.sleep(LAG_PERIOD_S)
        samples.append(time.monotonic() - asked - LAG_PERIOD_S)


# ----------------------------------------------------------------------------- figures


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(slots=True)
class Figures:
    """One configuration's measurements."""

    scene: str
    cameras: int
    fps: float
    window_s: float
    setup_s: float
    fps_per_camera: list[float]
    skipped: int
    detected_fraction: float
    result_ms: list[float]
    event_ms: list[float]
    unmatched_events: int
    cpu_s: float
    lag_ms: list[float]
    load_before: float
    load_after: float

    @property
    def fps_mean(self) -> float:
        return statistics.fmean(self.fps_per_camera) if self.fps_per_camera else 0.0

    @property
    def fps_min(self) -> float:
        return min(self.fps_per_camera) if self.fps_per_camera else 0.0

    @property
    def cpu_per_camera_minute(self) -> float:
        return self.cpu_s / self.cameras / (self.window_s / 60.0)


def window_figures(
    names: Iterable[str], start: float, end: float
) -> tuple[list[float], int, float, list[float], list[float]]:
    """Per-camera fps, skipped frames, detector fraction and latencies in [start, end]."""
    by_camera: dict[str, list[ResultRecord]] = defaultdict(list)
    before: dict[str, ResultRecord] = {}
    for record in RECORDER.results:
        if record.captured_at is None:
            continue  # the stop-time flush of open tracks
        if record.received < start:
            before[record.camera] = record
        elif record.received <= end:
            by_camera[record.camera].append(record)
    fps: list[float] = []
    skipped = processed = detected = 0
    for name in names:
        records = by_camera.get(name, [])
        fps.append(len(records) / (end - start))
        if not records:
            continue
        first = before.get(name)
        last = records[-1]
        base_processed = (
            first.frames_processed if first else records[0].frames_processed - 1
        )
        base_detected = first.frames_detected if first else 0
        base_skipped = first.skipped_frames if first else 0
        processed += last.frames_processed - base_processed
        detected += last.frames_detected - base_detected
        skipped += last.skipped_frames - base_skipped
    result_ms = [
        (r.received - r.captured_at) * 1000
        for records in by_camera.values()
        for r in records
        if r.captured_at is not None
    ]
    event_ms = [lat * 1000 for t, _cam, lat in RECORDER.events if start <= t <= end]
    fraction = detected / processed if processed else float("nan")
    return fps, skipped, fraction, result_ms, event_ms


def camera_threads() -> list[str]:
    """Names of threads this integration started that are still alive."""
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_PREFIXES)]


# ----------------------------------------------------------------------------- one run


async def run_config(
    hass: HomeAssistant,
    scene: str,
    clip: Path,
    cameras: int,
    fps: float,
    threads: int,
    warmup_s: float,
    window_s: float,
) -> Figures:
    """Set up one entry with `cameras` cameras on `clip`, measure, remove it."""
    RECORDER.clear()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Camera Alerts",
        data={CONF_MODEL_PATH: "", CONF_INFERENCE_THREADS: threads},
        subentries_data=[
            camera_subentry(f"Cam {index + 1}", url=str(clip), fps=float(fps))
            for index in range(cameras)
        ],
        entry_id=f"bench_{scene}_{cameras}",
    )
    entry.add_to_hass(hass)
    started = time.monotonic()
    if not await hass.config_entries.async_setup(entry.entry_id):
        raise RuntimeError(f"entry for {cameras} x {scene} did not set up")
    await hass.async_block_till_done()
    setup_s = time.monotonic() - started
    runtime: CameraAlertsRuntime = entry.runtime_data
    names = [camera.name for camera in runtime.cameras.values()]
    if len(names) != cameras:
        raise RuntimeError(
            f"{len(names)} of {cameras} cameras started: {runtime.model_error}"
        )

    # Warm-up: every camera delivered results, then `warmup_s` more.
    deadline = time.monotonic() + START_GUARD_S
    while {r.camera for r in RECORDER.results} != set(names):
        if time.monotonic() > deadline:
            raise RuntimeError("not every camera produced a result in time")
        await asyncio.sleep(0.05)
    await asyncio.sleep(warmup_s)

    lag: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(lag_probe(lag, stop))
    load_before = load1()
    cpu_start, start = time.process_time(), time.monotonic()
    await asyncio.sleep(window_s)
    cpu_end, end = time.process_time(), time.monotonic()
    load_after = load1()
    stop.set()
    await probe

    fps_per_camera, skipped, fraction, result_ms, event_ms = window_figures(
        names, start, end
    )
    unmatched = RECORDER.unmatched_events

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    left = camera_threads()
    if left:
        raise RuntimeError(f"threads still alive after unloading: {left}")
    return Figures(
        scene=scene,
        cameras=cameras,
        fps=fps,
        window_s=end - start,
        setup_s=setup_s,
        fps_per_camera=fps_per_camera,
        skipped=skipped,
        detected_fraction=fraction,
        result_ms=result_ms,
        event_ms=event_ms,
        unmatched_events=unmatched,
        cpu_s=cpu_end - cpu_start,
        lag_ms=[value * 1000 for value in lag],
        load_before=load_before,
        load_after=load_after,
    )


async def idle_cpu(window_s: float) -> tuple[float, list[float]]:
    """CPU seconds per minute and loop lag of the bare Home Assistant instance."""
    lag: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(lag_probe(lag, stop))
    cpu_start, start = time.process_time(), time.monotonic()
    await asyncio.sleep(window_s)
    cpu = time.process_time() - cpu_start
    elapsed = time.monotonic() - start
    stop.set()
    await probe
    return cpu / (elapsed / 60.0), [value * 1000 for value in lag]


# ----------------------------------------------------------------------------- output


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


HEADER = (
    f"{'N':>2} | {'fps/cam mean (min)':>18} | {'% req':>6} | {'skip':>4} | {'det %':>5} | "
    f"{'result ms med/p95':>17} | {'event ms med/p95 (n)':>22} | {'CPU s/cam-min':>13} | "
    f"{'loop lag ms p50/p99/max':>23} | {'setup s':>7} | {'load1':>9}"
)


def row(f: Figures) -> str:
    events = (
        f"{fmt(statistics.median(f.event_ms))}/{fmt(pct(f.event_ms, 0.95))} ({len(f.event_ms)})"
        if f.event_ms
        else "- (0)"
    )
    result = (
        f"{fmt(statistics.median(f.result_ms))}/{fmt(pct(f.result_ms, 0.95))}"
        if f.result_ms
        else "-"
    )
    lag = f"{fmt(pct(f.lag_ms, 0.5), 2)}/{fmt(pct(f.lag_ms, 0.99), 2)}/{fmt(max(f.lag_ms), 1)}"
    return (
        f"{f.cameras:>2} | {f'{f.fps_mean:.2f} ({f.fps_min:.2f})':>18} | "
        f"{100 * f.fps_mean / f.fps:>5.1f}% | {f.skipped:>4} | "
        f"{fmt(100 * f.detected_fraction):>5} | {result:>17} | {events:>22} | "
        f"{f.cpu_per_camera_minute:>13.2f} | {lag:>23} | {f.setup_s:>7.2f} | "
        f"{f'{f.load_before:.2f}-{f.load_after:.2f}':>9}"
    )


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def print_targets(results: dict[tuple[str, int], Figures]) -> None:
    n = TARGET_CAMERAS
    print(f"\n== targets ({n} cameras at the requested fps)")
    for scene in ("static", "busy"):
        f = results.get((scene, n))
        if f is None:
            continue
        fraction = f.fps_min / f.fps
        print(
            f"  {scene:6s} processed fps >= {TARGETS['fps_fraction']:.0%} of requested: "
            f"slowest camera {f.fps_min:.2f}/{f.fps:g} = {fraction:.1%} -> "
            f"{verdict(fraction >= TARGETS['fps_fraction'])}"
        )
        if f.event_ms:
            p95 = pct(f.event_ms, 0.95)
            print(
                f"  {scene:6s} p95 frame-to-event latency <= {TARGETS['event_p95_ms']:.0f} ms: "
                f"{p95:.1f} ms over {len(f.event_ms)} events -> "
                f"{verdict(p95 <= TARGETS['event_p95_ms'])}"
            )
        else:
            print(f"  {scene:6s} p95 frame-to-event latency: no events in the window")
        p99 = pct(f.lag_ms, 0.99)
        print(
            f"  {scene:6s} event-loop lag p99 <= {TARGETS['loop_lag_p99_ms']:.0f} ms: "
            f"{p99:.2f} ms -> {verdict(p99 <= TARGETS['loop_lag_p99_ms'])}"
        )
    static, busy = results.get(("static", n)), results.get(("busy", n))
    if static and busy:
        ratio = busy.cpu_per_camera_minute / static.cpu_per_camera_minute
        print(
            f"  static CPU per camera >= {TARGETS['static_cpu_factor']:g}x lower than busy: "
            f"busy/static = {busy.cpu_per_camera_minute:.2f}/"
            f"{static.cpu_per_camera_minute:.2f} = {ratio:.2f}x -> "
            f"{verdict(ratio >= TARGETS['static_cpu_factor'])}"
        )


# ----------------------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> None:
    for line in machine_lines(args.threads):
        print(line)
    print(
        f"run: cameras {args.cameras}, scenes {args.scenes}, {args.fps:g} fps requested, "
        f"{SIZE[0]}x{SIZE[1]} H.264 clips, warm-up {args.warmup:g} s, window {args.window:g} s"
        + (" (--quick)" if args.quick else ""),
        flush=True,
    )
    results: dict[tuple[str, int], Figures] = {}
    CameraRuntime._handle_result = _recording_handle_result  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
            tmp_path = Path(tmp)
            clips = make_clips(tmp_path, args.fps)
            config_dir = tmp_path / "config"
            config_dir.mkdir()
            (config_dir / "configuration.yaml").write_text("", encoding="utf-8")
            async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
                # What the `enable_custom_integrations` fixture does: look in custom_components.
                hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
                media = tmp_path / "media"
                media.mkdir()
                hass.config.media_dirs = {"local": str(media)}
                unsub = hass.bus.async_listen(EVENT_DETECTION, _on_detection)
                try:
                    idle_per_min, idle_lag = await idle_cpu(min(5.0, args.window))
                    print(
                        f"idle HA (no entry): {idle_per_min:.2f} CPU s/min, loop lag p99 "
                        f"{pct(idle_lag, 0.99):.2f} ms",
                        flush=True,
                    )
                    for scene in args.scenes:
                        for n in args.cameras:
                            figures = await run_config(
                                hass,
                                scene,
                                clips[scene],
                                n,
                                args.fps,
                                args.threads,
                                args.warmup,
                                args.window,
                            )
                            results[(scene, n)] = figures
                            print(f"  done: {scene} x {n}", flush=True)
                finally:
                    unsub()
                    await hass.async_block_till_done()
                    await hass.async_stop(force=True)
    finally:
        CameraRuntime._handle_result = _ORIGINAL_HANDLE_RESULT  # type: ignore[method-assign]

    for scene in args.scenes:
        print(
            f"\n== {scene} scene ({'still photo + sensor noise' if scene == 'static' else 'person walks in, stands, walks out; loops'})"
        )
        print(HEADER)
        for n in args.cameras:
            if (scene, n) in results:
                print(row(results[(scene, n)]))
        unmatched = sum(results[(scene, n)].unmatched_events for n in args.cameras)
        if unmatched:
            print(f"  ({unmatched} bus events could not be matched to a frame)")
    if "static" in args.scenes and "busy" in args.scenes:
        print(
            "\n== CPU per camera-minute, busy / static (whole process; in brackets with the "
            f"idle Home Assistant's {idle_per_min:.2f} CPU s/min taken off first)"
        )
        for n in args.cameras:
            static, busy = results[("static", n)], results[("busy", n)]
            b, s = busy.cpu_per_camera_minute, static.cpu_per_camera_minute
            b_net, s_net = b - idle_per_min / n, s - idle_per_min / n
            net = (
                f"{b_net:.2f} / {s_net:.2f} = {b_net / s_net:.2f}x"
                if s_net > 0
                else "n/a"
            )
            print(f"  N={n}: {b:.2f} / {s:.2f} = {b / s:.2f}x  [{net}]")
    print_targets(results)
    left = camera_threads()
    print(f"\nthreads left after stop: {left or 'none'}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cameras",
        default="1,2,4,8",
        help="comma-separated camera counts (default 1,2,4,8)",
    )
    parser.add_argument(
        "--scenes", default="static,busy", help="static,busy or one of them"
    )
    parser.add_argument("--fps", type=float, default=5.0, help="requested and clip fps")
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        help=f"measurement s (default {2 * BUSY_LOOP_S:g}: two loops of the busy clip)",
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="warm-up s (default 4)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_INFERENCE_THREADS,
        help=f"ONNX Runtime intra-op threads (default {DEFAULT_INFERENCE_THREADS})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{BUSY_LOOP_S:g} s windows (one loop of the busy clip), 2 s warm-up",
    )
    args = parser.parse_args()
    args.cameras = [int(part) for part in str(args.cameras).split(",") if part.strip()]
    args.scenes = [part.strip() for part in args.scenes.split(",") if part.strip()]
    if any(scene not in ("static", "busy") for scene in args.scenes):
        parser.error("scenes are static and/or busy")
    if any(n < 1 for n in args.cameras):
        parser.error("camera counts must be >= 1")
    if args.window is None:
        args.window = BUSY_LOOP_S if args.quick else 2 * BUSY_LOOP_S
    if args.warmup is None:
        args.warmup = 2.0 if args.quick else 4.0
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
