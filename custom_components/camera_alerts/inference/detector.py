"""The detector: a shared model session (ONNX Runtime or OpenVINO), an adapter and the filtering rules."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
import functools
import logging
import os
from pathlib import Path
from typing import Any, Final, Literal, cast

import numpy as np
import numpy.typing as npt

from .adapters import ModelAdapter, ModelInfo, Thresholds, build_adapter
from .backend import (
    Engine,
    LoadedSession,
    SessionOptions,
    default_threads,
    get_session,
)
from .decoders import Decoded
from .detection import BoundingBox, Detection
from .errors import (
    BackendUnavailableError,
    DetectorError,
    InvalidModelError,
    ModelNotFoundError,
    UnsupportedModelError,
)
from .labels import (
    COCO_80,
    MAX_CLASSES,
    find_labels_file,
    names_from_metadata,
    read_labels_file,
)
from .openvino_backend import OpenVinoOptions, get_compiled_model
from .postprocess import batched_nms, select_top
from .preprocess import ResizeMode, Transform, as_bgr, clamp_region, prepare

_LOGGER = logging.getLogger(__name__)

DEFAULT_MODEL_PATH = Path(__file__).parent / "models" / "nanodet-g-416.onnx"
DEFAULT_SCORE_THRESHOLD = 0.4
DEFAULT_NMS_IOU = 0.5
DEFAULT_MAX_DETECTIONS = 100
PRE_NMS_TOP_K = 1000

Region = tuple[float, float, float, float]

type EngineChoice = Literal["auto", "onnxruntime", "openvino"]
"""The local engine asked of ``load_detector``: ``auto`` picks by CPU (see `load_detector`)."""
ENGINE_CHOICES: Final[tuple[str, ...]] = ("auto", "onnxruntime", "openvino")


@dataclass(frozen=True, slots=True)
class PreparedInput:
    """A frame turned into model inputs, and the way back to frame pixels."""

    feeds: dict[str, npt.NDArray[np.generic]]
    transform: Transform


class Detector:
    """Runs one model on BGR frames. Thread-safe; cheap to create per camera.

    Every detector made for the same model file, engine and options shares one
    session (ONNX Runtime session or OpenVINO compiled model, and so its memory
    and threads).
    """

    def __init__(
        self,
        loaded: LoadedSession,
        adapter: ModelAdapter,
        class_names: Sequence[str],
        *,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        min_scores: Mapping[str, float] | None = None,
        labels: Collection[str] | None = None,
        nms_iou: float = DEFAULT_NMS_IOU,
        max_detections: int = DEFAULT_MAX_DETECTIONS,
    ) -> None:
        self._loaded = loaded
        self.adapter = adapter
        # Names are padded to the class count the model (or its server) declares.
        if (adapter.num_classes or 0) > MAX_CLASSES:
            raise loaded.info.unsupported(
                f"it declares {adapter.num_classes} classes; at most {MAX_CLASSES} "
                "are supported"
            )
        count = max(len(class_names), adapter.num_classes or 0)
        self.class_names: tuple[str, ...] = tuple(class_names) + tuple(
            f"class_{index}" for index in range(len(class_names), count)
        )
        self.score_threshold = float(score_threshold)
        self.min_scores: dict[str, float] = {
            str(k): float(v) for k, v in (min_scores or {}).items()
        }
        self.labels: frozenset[str] | None = (
            frozenset(labels) if labels is not None else None
        )
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)
        for label in sorted(set(self.min_scores) | set(self.labels or ())):
            if label not in self.class_names:
                _LOGGER.warning("Label %r is not one of the model's classes", label)
        self.thresholds = self._build_thresholds()

    def _build_thresholds(self) -> Thresholds:
        table = []
        for name in self.class_names:
            if self.labels is not None and name not in self.labels:
                table.append(float("inf"))
            else:
                table.append(self.min_scores.get(name, self.score_threshold))
        default = float("inf") if self.labels is not None else self.score_threshold
        return Thresholds(table, default)

    # ------------------------------------------------------------------ properties

    @property
    def model_path(self) -> Path:
        """Resolved path of the model file."""
        return self._loaded.path

    @property
    def session(self) -> Any:
        """The shared session: ``onnxruntime.InferenceSession``, ``OpenVinoSession`` or ``RemoteSession``."""
        return self._loaded.session

    @property
    def engine(self) -> Engine:
        """What runs the model: ``onnxruntime``, ``openvino`` or ``remote``."""
        return self._loaded.engine

    @property
    def model_info(self) -> ModelInfo:
        """What the model (or server) says about its inputs and outputs."""
        return self._loaded.info

    @property
    def adapter_name(self) -> str:
        """Which adapter reads this model (``nanodet``, ``yolov8``, ...)."""
        return self.adapter.name

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input ``(width, height)``."""
        return self.adapter.width, self.adapter.height

    def __repr__(self) -> str:
        """Short description for logs."""
        width, height = self.input_size
        return (
            f"Detector({self.model_path.name}, engine={self.engine}, adapter={self.adapter_name}, "
            f"input={width}x{height}, classes={len(self.class_names)})"
        )

    # ------------------------------------------------------------------ running

    def prepare(
        self, frame_bgr: npt.NDArray[Any], region: Region | None = None
    ) -> PreparedInput:
        """Pre-process a frame (or a region of it) into the model's input tensors."""
        frame = as_bgr(frame_bgr)
        height, width = frame.shape[:2]
        if width == 0 or height == 0:
            raise ValueError("frame is empty")
        box = clamp_region(region, width, height)
        tensor, transform = prepare(self.adapter.spec, frame, box)
        return PreparedInput(self.adapter.feeds(tensor), transform)

    def run(self, prepared: PreparedInput) -> list[npt.NDArray[np.generic]]:
        """Run the bare ``session.run`` on prepared inputs."""
        try:
            outputs: list[npt.NDArray[np.generic]] = self.session.run(
                list(self.adapter.output_names), prepared.feeds
            )
        except DetectorError:
            raise  # a remote session's own errors already say what failed
        except Exception as err:
            raise DetectorError(
                f"Inference failed for {self.model_path.name}: {err}"
            ) from err
        return outputs

    def postprocess(
        self, outputs: Sequence[npt.NDArray[np.generic]], transform: Transform
    ) -> list[Detection]:
        """Decode, suppress overlaps, map to frame pixels and build detections."""
        decoded = self.adapter.decode(outputs, self.thresholds)
        return self._finish(decoded, transform)

    def detect(
        self, frame_bgr: npt.NDArray[Any], region: Region | None = None
    ) -> list[Detection]:
        """Detect objects in a BGR frame.

        ``region`` = ``(x, y, w, h)`` in frame pixels runs the model on that crop
        only (clamped into the frame); the boxes are still in full-frame pixels.
        Without it the whole frame is used (letterboxed for most models).
        """
        prepared = self.prepare(frame_bgr, region)
        return self.postprocess(self.run(prepared), prepared.transform)

    def _finish(self, decoded: Decoded, transform: Transform) -> list[Detection]:
        if decoded.scores.size == 0:
            return []
        if decoded.scores.size > PRE_NMS_TOP_K:
            decoded = decoded.take(select_top(decoded.scores, PRE_NMS_TOP_K))
        boxes = transform.to_frame(decoded.boxes)
        valid = np.nonzero(
            (boxes[:, 2] - boxes[:, 0] >= 1.0) & (boxes[:, 3] - boxes[:, 1] >= 1.0)
        )[0]
        if valid.size != boxes.shape[0]:
            decoded = decoded.take(valid)
            boxes = boxes[valid]
        if self.adapter.needs_nms:
            keep = batched_nms(
                boxes,
                decoded.scores,
                decoded.class_ids,
                self.nms_iou,
                self.max_detections,
            )
        else:
            keep = np.argsort(-decoded.scores, kind="stable")[: self.max_detections]
        names = self.class_names
        detections: list[Detection] = []
        box_rows = cast(list[list[float]], boxes.tolist())
        for index in cast(list[int], keep.tolist()):
            class_id = int(decoded.class_ids[index])
            x1, y1, x2, y2 = box_rows[index]
            detections.append(
                Detection(
                    class_id=class_id,
                    class_name=names[class_id]
                    if 0 <= class_id < len(names)
                    else f"class_{class_id}",
                    confidence=float(decoded.scores[index]),
                    bbox=BoundingBox(x=x1, y=y1, width=x2 - x1, height=y2 - y1),
                )
            )
        return detections


def _class_names(
    loaded: LoadedSession,
    class_names: Sequence[str] | None,
    labels_file: str | os.PathLike[str] | None,
) -> list[str]:
    if class_names is not None:
        return [str(name) for name in class_names]
    if labels_file is not None:
        return read_labels_file(Path(labels_file))
    from_meta = names_from_metadata(loaded.info.metadata)
    if from_meta:
        return from_meta
    beside = find_labels_file(loaded.path)
    if beside is not None:
        return read_labels_file(beside)
    return list(COCO_80)


def warm_up(detector: Detector) -> None:
    """Run one blank frame, so a model whose outputs do not fit fails at load time."""
    adapter = detector.adapter
    blank = np.full((adapter.height, adapter.width, 3), 114, dtype=np.uint8)
    prepared = detector.prepare(blank)
    outputs = detector.run(prepared)
    try:
        detector.postprocess(outputs, prepared.transform)
    except UnsupportedModelError:
        raise
    except (ValueError, IndexError, TypeError) as err:
        raise detector.model_info.unsupported(
            f"{adapter.name} adapter cannot decode the outputs ({err})"
        ) from err


def load_detector(
    model_path: str | os.PathLike[str] | None = None,
    *,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    min_scores: Mapping[str, float] | None = None,
    labels: Iterable[str] | None = None,
    nms_iou: float = DEFAULT_NMS_IOU,
    max_detections: int = DEFAULT_MAX_DETECTIONS,
    adapter: str | None = None,
    input_size: tuple[int, int] | None = None,
    resize_mode: ResizeMode | None = None,
    class_names: Sequence[str] | None = None,
    labels_file: str | os.PathLike[str] | None = None,
    intra_op_num_threads: int | None = None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    warmup: bool = True,
    engine: EngineChoice = "onnxruntime",
) -> Detector:
    """Load a detection model (``None``: the bundled NanoDet-g 416).

    Blocking (file I/O and session creation): call it from an executor in
    Home Assistant.

    Args:
        model_path: ONNX file; ``None`` for the bundled default model.
        score_threshold: minimum score for labels without their own entry.
        min_scores: per-label minimum score, e.g. ``{"person": 0.6}``.
        labels: allow-list of label names; ``None`` keeps every class.
        nms_iou: IoU above which boxes of one class suppress each other.
        max_detections: cap on detections per frame.
        adapter: force a model adapter (``nanodet``, ``yolov8``, ``yolov5``,
            ``yolox``, ``end2end``, ``detr``, ``rtdetr_ultralytics`` or an alias
            such as ``yolo11``, ``yolov7``, ``yolov10``, ``rtdetr``, ``dfine``)
            instead of auto-detection.
        input_size: ``(width, height)`` for models with dynamic input size.
        resize_mode: ``letterbox`` or ``resize`` instead of the adapter's default.
        class_names: class names, overriding metadata and labels files.
        labels_file: a labels file (one name per line) to read class names from.
        intra_op_num_threads: inference threads (default ``min(2, CPUs)``): ONNX
            Runtime intra-op threads, or OpenVINO ``INFERENCE_NUM_THREADS``.
        providers: ONNX Runtime execution providers (not used by OpenVINO).
        warmup: run one blank frame through the model now, so a model whose
            outputs do not fit its adapter fails here and the first real frame
            is not slow.
        engine: ``onnxruntime`` (default), ``openvino`` (the ONNX file compiled
            by OpenVINO for the CPU), or ``auto``: on Intel CPUs OpenVINO when it
            imports and loads (and, with ``warmup``, runs) the model, else ONNX
            Runtime; on other CPUs ONNX Runtime first and OpenVINO as the fallback.
            ``Detector.engine`` tells which one runs.

    Raises:
        ModelNotFoundError: no such file.
        InvalidModelError: not a loadable ONNX model.
        UnsupportedModelError: no adapter understands the model's inputs/outputs.
        BackendUnavailableError: the engine (``auto``: both) cannot be imported.
        ValueError: an unknown engine or fewer than one thread.

    """
    if engine not in ENGINE_CHOICES:
        raise ValueError(
            f"Unknown engine {engine!r}; choose one of {', '.join(ENGINE_CHOICES)}"
        )
    threads = (
        default_threads() if intra_op_num_threads is None else int(intra_op_num_threads)
    )
    if threads < 1:
        raise ValueError("intra_op_num_threads must be at least 1")
    path = DEFAULT_MODEL_PATH if model_path is None else model_path
    allowed = None if labels is None else list(labels)  # may be tried twice (auto)

    def finish(loaded: LoadedSession) -> Detector:
        return _build_detector(
            loaded,
            score_threshold=score_threshold,
            min_scores=min_scores,
            labels=allowed,
            nms_iou=nms_iou,
            max_detections=max_detections,
            adapter=adapter,
            input_size=input_size,
            resize_mode=resize_mode,
            class_names=class_names,
            labels_file=labels_file,
            warmup=warmup,
        )

    def onnxruntime() -> Detector:
        options = SessionOptions(
            intra_op_num_threads=threads, providers=tuple(providers)
        )
        return finish(get_session(path, options))

    def openvino() -> Detector:
        return finish(get_compiled_model(path, OpenVinoOptions(num_threads=threads)))

    if engine == "onnxruntime":
        return onnxruntime()
    if engine == "openvino":
        return openvino()
    # OpenVINO's CPU kernels are tuned for Intel; on other CPUs (an AMD EPYC
    # here) ONNX Runtime measured 1.3x faster, so it goes first there.
    first, second = (openvino, onnxruntime) if intel_cpu() else (onnxruntime, openvino)
    try:
        return first()
    except ModelNotFoundError:
        raise
    except DetectorError as err:
        first_error = err
        _LOGGER.log(
            logging.DEBUG if isinstance(err, BackendUnavailableError) else logging.INFO,
            "%s cannot run %s (%s); trying %s",
            _ENGINE_NAMES[first.__name__],
            path,
            err,
            _ENGINE_NAMES[second.__name__],
        )
    try:
        return second()
    except BackendUnavailableError as err:
        if isinstance(first_error, BackendUnavailableError):
            raise BackendUnavailableError(
                f"Neither OpenVINO nor ONNX Runtime can be imported ({first_error}; {err})"
            ) from err
        raise first_error from err
    except DetectorError as err:
        # Both refuse the model: ONNX Runtime's reason is the reference one.
        if second is openvino:
            raise first_error from err
        raise


_ENGINE_NAMES: Final = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}


@functools.cache
def intel_cpu() -> bool:
    """Whether this host's CPU is an Intel one (Linux: /proc/cpuinfo; elsewhere no)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("vendor_id"):
                    return "GenuineIntel" in line
    except OSError:
        pass
    return False


def _build_detector(
    loaded: LoadedSession,
    *,
    score_threshold: float,
    min_scores: Mapping[str, float] | None,
    labels: Iterable[str] | None,
    nms_iou: float,
    max_detections: int,
    adapter: str | None,
    input_size: tuple[int, int] | None,
    resize_mode: ResizeMode | None,
    class_names: Sequence[str] | None,
    labels_file: str | os.PathLike[str] | None,
    warmup: bool,
) -> Detector:
    """Pick the adapter for a loaded model, build the detector and warm it up."""
    names = _class_names(loaded, class_names, labels_file)
    # Names stated by the model itself also fix its class count (ultralytics
    # segmentation/pose outputs carry extra channels after the classes).
    meta_names = names_from_metadata(loaded.info.metadata)
    model_adapter = build_adapter(
        loaded.info,
        adapter=adapter,
        input_size=input_size,
        resize_mode=resize_mode,
        num_names=len(meta_names) if meta_names else None,
    )
    detector = Detector(
        loaded,
        model_adapter,
        names,
        score_threshold=score_threshold,
        min_scores=min_scores,
        labels=None if labels is None else list(labels),
        nms_iou=nms_iou,
        max_detections=max_detections,
    )
    if warmup:
        try:
            warm_up(detector)
        except UnsupportedModelError:
            raise
        except DetectorError as err:
            raise InvalidModelError(
                f"{loaded.path.name} fails to run on a blank frame: {err}"
            ) from err
    _LOGGER.debug("Loaded %r", detector)
    return detector
