"""Detector engines side by side: local ONNX Runtime, local OpenVINO, remote KServe.

Run:  .venv/bin/python benchmarks/bench_backends.py [--iterations N] [--threads T]
          [--window S] [--cameras 8] [--fps 5]

Everything in ONE process and run, so the figures compare as ratios (the
machine may be shared; its load average is printed before and after):

- the machine (CPU model, cores) and the software versions;
- latency of ``detector.detect`` (median, p95 over N runs, the engines
  interleaved in the same loop) for the bundled NanoDet-g on the shared photos
  and a 1280x720 frame, as ratios to ONNX Runtime;
- throughput (frames/s) of ``detect`` on the 1280x720 frame with 1 and 2
  concurrent callers (median of rounds that alternate the engines);
- the camera pipeline with N cameras (default 8) on the remote backend (and on
  local ONNX Runtime for reference): one ``pipeline.processor.CameraProcessor``
  per camera fed by the integration's own file reader from a 1280x720 clip
  written with ``cv2.VideoWriter`` (a shared photo with a person walking
  across it: motion in every frame), at F frames/s requested (default 5), all
  cameras sharing one detector and the integration's detect lock
  (``threading.Semaphore(1)``, or ``REMOTE_CONCURRENCY`` for the remote
  backend, as ``runtime.py`` creates it). Reported:
  processed fps per camera vs requested, detector calls/s, frame-to-result
  latency and CPU seconds per second of this process and of the server.

The remote backend runs KServe 0.21's model server from ``.venv-kserve``
(``scripts/setup-kserve``) on 127.0.0.1 hosting the same ONNX file with ONNX
Runtime and the same thread count, i.e. on the same CPUs as the client.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
import os
from pathlib import Path
import platform
import statistics
import sys
import tempfile
import threading
import time

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_model  # noqa: E402
from custom_components.camera_alerts.inference import (  # noqa: E402
    DEFAULT_MODEL_PATH,
    REMOTE_CONCURRENCY,
    Detector,
    default_threads,
    load_detector,
    load_remote_detector,
)
from custom_components.camera_alerts.inference.openvino_backend import (  # noqa: E402
    openvino_module,
)
from custom_components.camera_alerts.pipeline.processor import (  # noqa: E402
    CameraProcessor,
    ProcessorResult,
    ProcessorSettings,
)
from custom_components.camera_alerts.pipeline.source import (  # noqa: E402
    FrameSlot,
    StreamSource,
)
from tests.camera_sources.media import (  # noqa: E402
    add_noise,
    background,
    paste,
    person_cutout,
)
from tests.kserve_server import KServeServer, kserve_version  # noqa: E402

DATA = ROOT / "tests" / "inference" / "data"
PHOTOS = ("astronaut.jpg", "person.jpg", "dog.jpg", "kite.jpg")
MODEL_NAME = "nanodet"
SIZE = (1280, 720)
Image = npt.NDArray[np.uint8]


# ----------------------------------------------------------------------------- machine


def load1() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def print_machine(threads: int) -> None:
    ov = openvino_module()
    usable = getattr(os, "process_cpu_count", os.cpu_count)()
    print("== machine")
    print(f"cpu: {cpu_model()} ({platform.machine()})")
    print(f"cores: {os.cpu_count()} logical, {usable} usable by this process")
    print(
        f"python {platform.python_version()}, onnxruntime {ort.__version__}, "
        f"openvino {ov.get_version()}, numpy {np.__version__}, opencv {cv2.__version__}"
    )
    kserve, server_ort = [*kserve_version().split(), "?", "?"][:2]
    print(f"server (.venv-kserve): kserve {kserve}, onnxruntime {server_ort}")
    print(
        f"inference threads: {threads} (ONNX Runtime intra-op = OpenVINO "
        f"INFERENCE_NUM_THREADS = the server's ONNX Runtime intra-op)"
    )


# ----------------------------------------------------------------------------- images


def read(name: str) -> Image:
    image = cv2.imread(str(DATA / name))
    if image is None:
        raise FileNotFoundError(DATA / name)
    return image


def camera_frame() -> Image:
    """A 1280x720 frame: person.jpg at 1.5x on a grey canvas."""
    canvas = np.full((720, 1280, 3), 90, dtype=np.uint8)
    canvas[42 : 42 + 636, 160 : 160 + 960] = cv2.resize(read("person.jpg"), (960, 636))
    return canvas


# ----------------------------------------------------------------------------- latency


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def latency(
    engines: dict[str, Detector], images: dict[str, Image], iterations: int
) -> dict[str, dict[str, list[float]]]:
    """ms per detect, per image and engine; engines interleaved in rotating order."""
    names = list(engines)
    result: dict[str, dict[str, list[float]]] = {}
    for label, image in images.items():
        for detector in engines.values():
            for _ in range(3):
                detector.detect(image)
        times: dict[str, list[float]] = {name: [] for name in names}
        for index in range(iterations):
            order = names[index % len(names) :] + names[: index % len(names)]
            for name in order:
                start = time.perf_counter()
                engines[name].detect(image)
                times[name].append((time.perf_counter() - start) * 1000)
        result[label] = times
    return result


def throughput(detector: Detector, image: Image, callers: int, frames: int) -> float:
    """frames/s of `callers` threads each running `frames` detects."""
    barrier = threading.Barrier(callers + 1)
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            for _ in range(frames):
                detector.detect(image)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(callers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return callers * frames / elapsed


# ----------------------------------------------------------------------------- pipeline


def write_clip(path: Path, index: int, fps: float, seconds: float) -> Path:
    """1280x720 mp4v clip: a shared photo with a person walking across it, looping."""
    frames = round(fps * seconds)
    still = background(SIZE, DATA / PHOTOS[index % len(PHOTOS)])
    sprite, alpha = person_cutout(int(SIZE[1] * 0.6))
    rng = np.random.default_rng(index)
    y = SIZE[1] - sprite.shape[0] - SIZE[1] // 20
    span = SIZE[0] + sprite.shape[1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, SIZE)
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write {path}")
    try:
        for step in range(frames):
            # each camera starts at another place of the walk; 1.5 walks per clip
            phase = (step / frames * 1.5 + index / 8) % 1.0
            x = round(phase * span) - sprite.shape[1]
            writer.write(add_noise(paste(still, sprite, alpha, x, y), rng))
    finally:
        writer.release()
    return path


@dataclass
class PipelineFigures:
    name: str
    cameras: int
    fps: float
    window_s: float
    fps_per_camera: list[float]
    detect_calls: int
    processed: int
    detect_ms: list[float]  # inference_ms (includes waiting for the detect lock)
    result_ms: list[float]  # result time - frame capture time
    cpu_self_s: float
    cpu_server_s: float | None
    skipped_frames: int


def run_pipeline(
    name: str,
    detector: Detector,
    clips: list[Path],
    fps: float,
    warmup_s: float,
    window_s: float,
    server_cpu: Callable[[], float] | None,
) -> PipelineFigures:
    records: list[tuple[float, str, bool, float | None, float | None, int]] = []
    lock = threading.Lock()
    # What runtime.py shares between cameras: one local inference at a time,
    # REMOTE_CONCURRENCY requests in flight to a server.
    detect_lock = threading.Semaphore(REMOTE_CONCURRENCY if name == "remote" else 1)
    slots: list[FrameSlot] = []
    sources: list[StreamSource] = []
    processors: list[CameraProcessor] = []

    def recorder(camera: str) -> Callable[[ProcessorResult], None]:
        def on_result(result: ProcessorResult) -> None:
            now = time.monotonic()
            with lock:
                records.append(
                    (
                        now,
                        camera,
                        result.detected,
                        result.inference_ms,
                        result.captured_at,
                        result.skipped_frames,
                    )
                )

        return on_result

    settings = ProcessorSettings(fps=fps, labels=("person", "dog", "horse"))
    for index, clip in enumerate(clips):
        camera = f"cam{index + 1}"
        slot = FrameSlot()
        source = StreamSource(str(clip), slot, name=camera)
        processor = CameraProcessor(
            camera, slot, detector, settings, recorder(camera), detect_lock
        )
        slots.append(slot)
        sources.append(source)
        processors.append(processor)
    try:
        for source in sources:
            source.start()
        for processor in processors:
            processor.start()
        deadline = time.monotonic() + 60
        names = {f"cam{i + 1}" for i in range(len(clips))}
        while True:
            with lock:
                seen = {record[1] for record in records}
            if seen == names:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"cameras without results: {sorted(names - seen)}")
            time.sleep(0.05)
        time.sleep(warmup_s)
        cpu0, server0, start = (
            time.process_time(),
            server_cpu() if server_cpu else None,
            time.monotonic(),
        )
        time.sleep(window_s)
        cpu1, server1, end = (
            time.process_time(),
            server_cpu() if server_cpu else None,
            time.monotonic(),
        )
    finally:
        for processor in processors:
            processor.stop()
        for source in sources:
            source.stop()
        for slot in slots:
            slot.close()
    with lock:
        window = [r for r in records if start <= r[0] <= end and r[4] is not None]
        before = {r[1]: r[5] for r in records if r[0] < start}
    per_camera = {f"cam{i + 1}": 0 for i in range(len(clips))}
    last_skipped: dict[str, int] = {}
    for record in window:
        per_camera[record[1]] += 1
        last_skipped[record[1]] = record[5]
    skipped = sum(last_skipped[c] - before.get(c, 0) for c in last_skipped)
    return PipelineFigures(
        name=name,
        cameras=len(clips),
        fps=fps,
        window_s=end - start,
        fps_per_camera=[count / (end - start) for count in per_camera.values()],
        detect_calls=sum(1 for r in window if r[2]),
        processed=len(window),
        detect_ms=[r[3] for r in window if r[3] is not None],
        result_ms=[(r[0] - r[4]) * 1000 for r in window if r[4] is not None],
        cpu_self_s=cpu1 - cpu0,
        cpu_server_s=None if server0 is None or server1 is None else server1 - server0,
        skipped_frames=skipped,
    )


def pipeline_line(f: PipelineFigures) -> str:
    mean, low = statistics.fmean(f.fps_per_camera), min(f.fps_per_camera)
    server = "-" if f.cpu_server_s is None else f"{f.cpu_server_s / f.window_s:.2f}"
    fps = f"{mean:.2f} ({low:.2f}) of {f.fps:g} = {100 * mean / f.fps:.1f} %"
    share = f"{100 * f.detect_calls / max(1, f.processed):.1f} %"
    detect = f"{statistics.median(f.detect_ms):.1f} / {pct(f.detect_ms, 95):.1f}"
    result = f"{statistics.median(f.result_ms):.1f} / {pct(f.result_ms, 95):.1f}"
    return (
        f"{f.name:<12} | {fps:<34} | {f.detect_calls / f.window_s:6.2f} | "
        f"{share:>7} | {detect:>17} | {result:>17} | "
        f"{f.cpu_self_s / f.window_s:5.2f} | {server:>6} | {f.skipped_frames}"
    )


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds")
    parser.add_argument(
        "--frames", type=int, default=20, help="detects per caller per round"
    )
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument(
        "--pipeline-engines",
        default="remote,onnxruntime,openvino",
        help="engines for the pipeline runs (remote first)",
    )
    args = parser.parse_args()
    threads = default_threads() if args.threads is None else args.threads

    print_machine(threads)
    print(f"load1 at start: {load1()}", flush=True)
    with KServeServer(DEFAULT_MODEL_PATH, MODEL_NAME, threads=threads) as server:
        engines: dict[str, Detector] = {
            "onnxruntime": load_detector(intra_op_num_threads=threads),
            "openvino": load_detector(intra_op_num_threads=threads, engine="openvino"),
            "remote": load_remote_detector(server.url, MODEL_NAME),
        }
        for name, detector in engines.items():
            assert detector.engine == name, (name, detector.engine)
        print(
            f"model: {DEFAULT_MODEL_PATH.name}, adapter {engines['onnxruntime'].adapter_name}, "
            f"input {engines['onnxruntime'].input_size}; server {server.url} "
            f"(pid {server.pid}, binary tensors)"
        )

        images = {f"{n} {read(n).shape[1]}x{read(n).shape[0]}": read(n) for n in PHOTOS}
        images["frame 1280x720"] = camera_frame()
        agree = []
        for label, image in images.items():
            counts = {name: len(d.detect(image)) for name, d in engines.items()}
            agree.append(f"{label.split()[0]} {'/'.join(map(str, counts.values()))}")
        print(f"detections per engine (ort/ov/remote): {', '.join(agree)}")

        print(
            f"\n== latency of detect(), ms (median / p95 over {args.iterations} runs, "
            "engines interleaved); ratio = median / ONNX Runtime median"
        )
        print(
            f"{'image':<24} | {'onnxruntime':>15} | {'openvino':>15} {'ratio':>6} | "
            f"{'remote':>15} {'ratio':>6}"
        )
        lat = latency(engines, images, args.iterations)
        for label, times in lat.items():
            base = statistics.median(times["onnxruntime"])
            cells = []
            for name in engines:
                med, p95 = statistics.median(times[name]), pct(times[name], 95)
                cell = f"{med:6.2f} / {p95:6.2f}"
                if name != "onnxruntime":
                    cell += f" {med / base:6.2f}"
                cells.append(cell)
            print(f"{label:<24} | " + " | ".join(cells))

        print(
            f"\n== throughput of detect() on the 1280x720 frame, frames/s (median of "
            f"{args.rounds} rounds x {args.frames} frames per caller, engines alternating)"
        )
        frame = images["frame 1280x720"]
        rates: dict[tuple[str, int], list[float]] = {}
        server_cpu = server_frames = 0.0
        for _ in range(args.rounds):
            for callers in (1, 2):
                for name, detector in engines.items():
                    cpu0 = server.cpu_seconds()
                    rates.setdefault((name, callers), []).append(
                        throughput(detector, frame, callers, args.frames)
                    )
                    if name == "remote":
                        server_cpu += server.cpu_seconds() - cpu0
                        server_frames += callers * args.frames
        print(f"{'engine':<12} | {'1 caller':>17} | {'2 callers':>17} | 2/1")
        for name in engines:
            one = statistics.median(rates[(name, 1)])
            two = statistics.median(rates[(name, 2)])
            base1 = statistics.median(rates[("onnxruntime", 1)])
            base2 = statistics.median(rates[("onnxruntime", 2)])
            single = f"{one:.1f} ({one / base1:.2f}x)"
            double = f"{two:.1f} ({two / base2:.2f}x)"
            print(f"{name:<12} | {single:>17} | {double:>17} | {two / one:4.2f}")
        print(
            f"remote: the server used {1000 * server_cpu / server_frames:.0f} ms of CPU "
            "per frame in these runs"
        )
        print(f"load1 after the detector figures: {load1()}", flush=True)

        pipeline_engines = [e.strip() for e in args.pipeline_engines.split(",") if e]
        print(
            f"\n== pipeline: {args.cameras} cameras x {args.fps:g} fps requested, "
            f"{SIZE[0]}x{SIZE[1]} mp4v clips (person walking across a shared photo), "
            f"one shared detector, detect lock Semaphore(1) (remote: {REMOTE_CONCURRENCY}), warm-up {args.warmup:g} s, "
            f"window {args.window:g} s"
        )
        with tempfile.TemporaryDirectory(prefix="bench_backends_") as tmp:
            clips = [
                write_clip(Path(tmp) / f"cam{i + 1}.mp4", i, args.fps, 12.0)
                for i in range(args.cameras)
            ]
            print(
                f"{'engine':<12} | {'fps/camera mean (min) of requested':<34} | "
                f"{'det/s':>6} | {'det %':>7} | {'detect ms med/p95':>17} | "
                f"{'result ms med/p95':>17} | {'CPU/s':>5} | {'server':>6} | skipped"
            )
            for name in pipeline_engines:
                figures = run_pipeline(
                    name,
                    engines[name],
                    clips,
                    args.fps,
                    args.warmup,
                    args.window,
                    server.cpu_seconds if name == "remote" else None,
                )
                print(pipeline_line(figures), flush=True)
        print(
            "  det/s = detector calls per second (all cameras); det % = share of "
            "processed frames that ran the detector; detect ms includes the wait for "
            "the shared detect lock; CPU/s = CPU seconds per second of this process "
            "(readers, processors, client) and of the server process; skipped = "
            "frames the processors skipped (all cameras)"
        )
    print(f"load1 at the end: {load1()}")


if __name__ == "__main__":
    main()
