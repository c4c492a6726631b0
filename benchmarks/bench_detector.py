"""Detector benchmark: latency, overhead over bare inference, roofline, motion gating.

Run:  .venv/bin/python benchmarks/bench_detector.py [--iterations N] [--threads T]

Prints
- the machine (CPU model, cores, onnxruntime / numpy / OpenCV versions);
- for the bundled NanoDet-g on the test photos and a 1280x720 frame: median and
  p95 latency of ``detect()`` and of the bare ``session.run`` on a prepared
  tensor (interleaved in the same loop, same process), their ratio and frames/s;
- the model's GFLOPs counted from the ONNX graph (Conv/MatMul/Gemm MACs with
  shape inference; needs the ``onnx`` package), the achieved GFLOP/s and this
  machine's dense float32 matmul GFLOP/s measured with numpy in the same run;
- on generated 1280x720 clips at 5 frames/s (a still scene with sensor noise,
  a person cut-out walking in, a lighting change): the fraction of frames that
  reach the detector with the motion gate on and off, and for the walking
  person how many processed frames pass between it becoming visible and the
  tracker's ``new``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
import os
from pathlib import Path
import platform
import sys
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
    Detector,
    load_detector,
)
from custom_components.camera_alerts.pipeline.motion import (  # noqa: E402
    MotionGate,
    detection_region,
)
from custom_components.camera_alerts.pipeline.tracker import Tracker  # noqa: E402

DATA = ROOT / "tests" / "inference" / "data"
PHOTOS = ("astronaut.jpg", "person.jpg", "dog.jpg", "kite.jpg")
FPS = 5.0
RECHECK_S = (
    1.0  # like the camera processor: re-detect still tracked objects every second
)
Image = npt.NDArray[np.uint8]


# ----------------------------------------------------------------------------- machine


def print_machine(threads: int) -> None:
    print("== machine")
    print(f"cpu: {cpu_model()} ({platform.machine()})")
    usable = getattr(os, "process_cpu_count", os.cpu_count)()
    print(f"cores: {os.cpu_count()} logical, {usable} usable by this process")
    print(
        f"python {platform.python_version()}, onnxruntime {ort.__version__}, "
        f"numpy {np.__version__}, opencv {cv2.__version__}"
    )
    blas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    print(f"onnxruntime intra-op threads: {threads}; OpenBLAS env: {blas or 'none'}")


# ----------------------------------------------------------------------------- graph FLOPs


def model_gflops(path: Path) -> float | None:
    """Multiply-accumulates of Conv/MatMul/Gemm x 2, from ONNX shape inference."""
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        return None
    model = shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes: dict[str, list[int]] = {}
    for value in [*graph.input, *graph.output, *graph.value_info]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [
            d.dim_value if d.HasField("dim_value") else 1 for d in dims
        ]
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    macs = 0
    for node in graph.node:
        if node.op_type == "Conv":
            weight = shapes.get(node.input[1])
            out = shapes.get(node.output[0])
            if weight and out:
                macs += int(np.prod(out)) * int(np.prod(weight[1:]))
        elif node.op_type == "MatMul":
            a = shapes.get(node.input[0])
            out = shapes.get(node.output[0])
            if a and out:
                macs += int(np.prod(out)) * a[-1]
        elif node.op_type == "Gemm":
            a = shapes.get(node.input[0])
            out = shapes.get(node.output[0])
            trans_a = next(
                (attr.i for attr in node.attribute if attr.name == "transA"), 0
            )
            if a and out:
                macs += int(np.prod(out)) * (a[0] if trans_a else a[-1])
    return 2 * macs / 1e9


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Dense float32 matmul throughput of numpy (its BLAS) in this process."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / float(np.median(times)) / 1e9


def blas_kernel() -> str:
    """OpenBLAS core (kernel family) numpy runs, when numpy bundles scipy-openblas."""
    import ctypes

    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for lib in sorted(libs.glob("libscipy_openblas*.so*")):
        try:
            handle = ctypes.CDLL(str(lib))
            corename = handle.scipy_openblas_get_corename64_
            corename.restype = ctypes.c_char_p
            threads = handle.scipy_openblas_get_num_threads64_
            threads.restype = ctypes.c_int
            return f"OpenBLAS core {corename().decode()}, {threads()} threads"
        except (OSError, AttributeError):
            continue
    return "unknown BLAS"


def matmul_without_overrides() -> tuple[float, str] | None:
    """The same matmul in a child process without OPENBLAS_CORETYPE/L2_SIZE overrides."""
    import subprocess

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    if env.keys() == os.environ.keys():
        return None
    out = (
        subprocess.run(
            [sys.executable, __file__, "--matmul-only"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    value, kernel = out.split(" ", 1)
    return float(value), kernel


# ----------------------------------------------------------------------------- latency


@dataclass
class Latency:
    name: str
    detect_ms: list[float]
    run_ms: list[float]

    def line(self) -> str:
        d_med, d_p95 = np.median(self.detect_ms), np.percentile(self.detect_ms, 95)
        r_med, r_p95 = np.median(self.run_ms), np.percentile(self.run_ms, 95)
        return (
            f"{self.name:<16} detect median {d_med:6.2f} ms p95 {d_p95:6.2f} ms | "
            f"session.run median {r_med:6.2f} ms p95 {r_p95:6.2f} ms | "
            f"ratio {d_med / r_med:5.3f} | {1000 / d_med:5.1f} frames/s"
        )


def measure(detector: Detector, name: str, image: Image, iterations: int) -> Latency:
    prepared = detector.prepare(image)
    session = detector.session
    names = list(detector.adapter.output_names)
    feeds = prepared.feeds
    for _ in range(5):
        detector.detect(image)
        session.run(names, feeds)
    detect_ms: list[float] = []
    run_ms: list[float] = []
    for _ in range(iterations):  # interleaved, so both see the same machine state
        start = time.perf_counter()
        detector.detect(image)
        detect_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        session.run(names, feeds)
        run_ms.append((time.perf_counter() - start) * 1000)
    return Latency(name, detect_ms, run_ms)


def camera_frame() -> Image:
    """A 1280x720 frame: person.jpg at 1.5x on a grey canvas."""
    canvas = np.full((720, 1280, 3), 90, dtype=np.uint8)
    photo = cv2.imread(str(DATA / "person.jpg"))
    canvas[42 : 42 + 636, 160 : 160 + 960] = cv2.resize(photo, (960, 636))
    return canvas


# ----------------------------------------------------------------------------- clips


def background() -> Image:
    """1280x720 beach/water scene without people (a crop of kite.jpg)."""
    kite = cv2.imread(str(DATA / "kite.jpg"))
    return cv2.resize(
        kite[455:900, 560:1352], (1280, 720), interpolation=cv2.INTER_AREA
    )


def person_cutout(scale: float = 1.5) -> tuple[Image, npt.NDArray[np.float32]]:
    """The person of person.jpg cut out with GrabCut: (BGR patch, alpha 0..1)."""
    photo = cv2.imread(str(DATA / "person.jpg"))
    x1, y1, x2, y2 = 186, 94, 281, 379
    mask = np.zeros(photo.shape[:2], np.uint8)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.grabCut(
        photo, mask, (x1, y1, x2 - x1, y2 - y1), bgd, fgd, 5, cv2.GC_INIT_WITH_RECT
    )
    alpha = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)
    patch = photo[y1:y2, x1:x2]
    alpha = alpha[y1:y2, x1:x2]
    size = (round(patch.shape[1] * scale), round(patch.shape[0] * scale))
    return cv2.resize(patch, size), cv2.resize(alpha, size)


def add_noise(image: Image, rng: np.random.Generator, sigma: float = 3.0) -> Image:
    noise = rng.normal(0.0, sigma, size=image.shape).astype(np.float32)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def paste(
    scene: Image, patch: Image, alpha: npt.NDArray[np.float32], x: int, y: int
) -> tuple[Image, float]:
    """Blend the patch at (x, y); return the frame and the visible fraction of the cut-out."""
    out = scene.copy()
    h, w = patch.shape[:2]
    fx1, fy1 = max(x, 0), max(y, 0)
    fx2, fy2 = min(x + w, scene.shape[1]), min(y + h, scene.shape[0])
    if fx1 >= fx2 or fy1 >= fy2:
        return out, 0.0
    px1, py1 = fx1 - x, fy1 - y
    a = alpha[py1 : py1 + fy2 - fy1, px1 : px1 + fx2 - fx1, None]
    region = out[fy1:fy2, fx1:fx2].astype(np.float32)
    region = region * (1 - a) + patch[py1 : py1 + fy2 - fy1, px1 : px1 + fx2 - fx1] * a
    out[fy1:fy2, fx1:fx2] = region.astype(np.uint8)
    return out, float(a.sum() / alpha.sum())


def static_clip(frames: int = 300) -> Iterator[tuple[Image, float]]:
    rng = np.random.default_rng(1)
    scene = background()
    for _ in range(frames):
        yield add_noise(scene, rng), 0.0


def entering_clip() -> Iterator[tuple[Image, float]]:
    rng = np.random.default_rng(2)
    scene = background()
    patch, alpha = person_cutout()
    for _ in range(10):
        yield add_noise(scene, rng), 0.0
    x = -patch.shape[1]
    for _ in range(40):  # walks in from the left, 30 px per frame (150 px/s)
        frame, visible = paste(scene, patch, alpha, x, 230)
        yield add_noise(frame, rng), visible
        x += 30


def lighting_clip() -> Iterator[tuple[Image, float]]:
    rng = np.random.default_rng(3)
    scene = background()
    for _ in range(50):
        yield add_noise(scene, rng), 0.0
    bright = cv2.convertScaleAbs(scene, alpha=1.25, beta=30)  # lights on
    for _ in range(50):
        yield add_noise(bright, rng), 0.0
    for step in range(100):  # then a slow dusk: 40 % darker over 20 s
        yield (
            add_noise(cv2.convertScaleAbs(bright, alpha=1.0 - 0.4 * step / 100), rng),
            0.0,
        )


@dataclass
class ClipResult:
    frames: int
    detected: int
    visible_at: int | None  # first frame index with >= half of the person in view
    first_pixel_at: int | None
    new_at: int | None
    processed_after_visible: int | None
    processed_after_first_pixel: int | None
    labels: set[str]


def run_clip(
    detector: Detector, clip: Callable[[], Iterator[tuple[Image, float]]], gate_on: bool
) -> ClipResult:
    gate = MotionGate()
    tracker = Tracker()
    detected = 0
    processed: list[int] = []
    visible_at = first_pixel_at = new_at = None
    last_detect = -np.inf
    labels: set[str] = set()
    frames = 0
    for index, (frame, visible) in enumerate(clip()):
        frames += 1
        now = index / FPS
        if visible > 0 and first_pixel_at is None:
            first_pixel_at = index
        if visible >= 0.5 and visible_at is None:
            visible_at = index
        height, width = frame.shape[:2]
        region = None
        if gate_on:
            boxes = gate.update(frame)
            run = bool(boxes) or (
                tracker.has_active_tracks() and now - last_detect >= RECHECK_S
            )
            if boxes:
                region = detection_region(boxes, (width, height), detector.input_size)
        else:
            run = True
        detections = None
        if run:
            detections = detector.detect(frame, region=region)
            detected += 1
            processed.append(index)
            last_detect = now
        for event in tracker.update(detections, now, (width, height)):
            if event.type == "new":
                labels.add(event.label)
                if event.label == "person" and new_at is None:
                    new_at = index

    def count_from(start: int | None) -> int | None:
        if start is None or new_at is None:
            return None
        return sum(1 for i in processed if start <= i <= new_at)

    return ClipResult(
        frames,
        detected,
        visible_at,
        first_pixel_at,
        new_at,
        count_from(visible_at),
        count_from(first_pixel_at),
        labels,
    )


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--matmul-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.matmul_only:
        print(f"{matmul_gflops():.3f} {blas_kernel()}")
        return

    detector = load_detector(intra_op_num_threads=args.threads)
    threads = detector.session.get_session_options().intra_op_num_threads
    print_machine(threads)
    print(
        f"model: {DEFAULT_MODEL_PATH.name} via adapter {detector.adapter_name}, input {detector.input_size}"
    )

    print(
        "\n== latency (interleaved detect() / bare session.run on the prepared tensor)"
    )
    results = []
    for name in PHOTOS:
        image = cv2.imread(str(DATA / name))
        results.append(
            measure(
                detector,
                f"{name} {image.shape[1]}x{image.shape[0]}",
                image,
                args.iterations,
            )
        )
        print(results[-1].line())
    frame_1280 = measure(detector, "frame 1280x720", camera_frame(), args.iterations)
    print(frame_1280.line())
    ratio = float(np.median(frame_1280.detect_ms) / np.median(frame_1280.run_ms))
    print(
        f"1280x720 detect()/session.run median ratio: {ratio:.3f} (target <= 1.25: {'ok' if ratio <= 1.25 else 'MISSED'})"
    )

    print("\n== compute (roofline)")
    gflops = model_gflops(DEFAULT_MODEL_PATH)
    peaks = [(matmul_gflops(), f"{blas_kernel()}, this process")]
    unpinned = matmul_without_overrides()
    if unpinned is not None:
        peaks.append(
            (
                unpinned[0],
                f"{unpinned[1]}, child process without OPENBLAS_CORETYPE/L2_SIZE",
            )
        )
    for value, how in peaks:
        print(f"numpy float32 2048^3 matmul: {value:.1f} GFLOP/s ({how})")
    peak = max(value for value, _ in peaks)
    run_median_s = float(np.median(frame_1280.run_ms)) / 1000
    if gflops is None:
        print("model GFLOPs: n/a (install the onnx package to count them)")
    else:
        achieved = gflops / run_median_s
        print(
            f"model: {gflops:.3f} GFLOPs per frame (Conv/MatMul/Gemm from the graph, 2 x MACs)"
        )
        print(
            f"achieved: {achieved:.1f} GFLOP/s (session.run median {run_median_s * 1000:.2f} ms, 1280x720 frame) "
            f"= {100 * achieved / peak:.1f} % of the best dense-matmul rate {peak:.1f} GFLOP/s"
        )

    print(f"\n== motion gate on generated 1280x720 clips at {FPS:g} frames/s")
    clips = {
        "static + noise": static_clip,
        "person enters": entering_clip,
        "lighting change": lighting_clip,
    }
    for name, clip in clips.items():
        on = run_clip(detector, clip, gate_on=True)
        off = run_clip(detector, clip, gate_on=False)
        print(
            f"{name:<16} frames {on.frames:4d} | reach detector: gate on {on.detected:4d} "
            f"({100 * on.detected / on.frames:5.1f} %), gate off {off.detected:4d} "
            f"({100 * off.detected / off.frames:5.1f} %) | new events: on {sorted(on.labels)}, off {sorted(off.labels)}"
        )
        if name == "static + noise":
            share = on.detected / on.frames
            print(
                f"  static clip: {100 * share:.1f} % of frames reach the detector (target <= 2 %: {'ok' if share <= 0.02 else 'MISSED'})"
            )
        if name == "person enters":
            for label, result in (("gate on", on), ("gate off", off)):
                print(
                    f"  {label}: first pixel of the person at frame {result.first_pixel_at}, half of it in view "
                    f"at frame {result.visible_at}, tracker 'new' at frame {result.new_at}: "
                    f"{result.processed_after_visible} processed frames from half-visible "
                    f"({result.processed_after_first_pixel} from the first pixel) "
                    f"(target <= 3: {'ok' if result.processed_after_visible is not None and result.processed_after_visible <= 3 else 'MISSED'})"
                )


if __name__ == "__main__":
    main()
