"""Object detection on camera frames (no Home Assistant imports).

``load_detector()`` returns a :class:`Detector` whose ``detect(frame_bgr)``
gives :class:`Detection` objects with boxes in frame pixels. The model runs on
ONNX Runtime or OpenVINO (``engine=``), or on an Open Inference Protocol
server (``load_remote_detector()``); ``Detector.engine`` says which.
``load_deepstack_detector()`` returns a :class:`DeepStackDetector` that sends
frames to a DeepStack or CodeProject.AI server instead; both fit the
:class:`FrameDetector` protocol the pipeline uses. ``None`` as the
model path loads the bundled NanoDet-g (COCO-80, 416x416). Other models
(YOLOv5/v7, YOLOv8/v9/11, YOLOX, YOLOv10 and other end-to-end exports,
RT-DETR/D-FINE) are recognised from their inputs and outputs; see
:mod:`.adapters` for how.
"""

from __future__ import annotations

from .adapters import ADAPTER_NAMES, ModelAdapter, ModelInfo
from .backend import (
    Engine,
    cached_session_count,
    clear_session_cache,
    default_threads,
)
from .deepstack import DeepStackDetector, load_deepstack_detector
from .detection import BoundingBox, Detection, FrameDetector
from .detector import (
    DEFAULT_MODEL_PATH,
    ENGINE_CHOICES,
    Detector,
    EngineChoice,
    PreparedInput,
    load_detector,
)
from .errors import (
    BackendUnavailableError,
    DetectorError,
    InvalidModelError,
    ModelNotFoundError,
    TensorInfo,
    UnsupportedModelError,
)
from .labels import COCO_80
from .openvino_backend import OpenVinoSession, openvino_available
from .remote import (
    REMOTE_CONCURRENCY,
    RemoteServerError,
    RemoteSession,
    load_remote_detector,
)

__all__ = [
    "ADAPTER_NAMES",
    "COCO_80",
    "DEFAULT_MODEL_PATH",
    "ENGINE_CHOICES",
    "REMOTE_CONCURRENCY",
    "BackendUnavailableError",
    "BoundingBox",
    "DeepStackDetector",
    "Detection",
    "Detector",
    "DetectorError",
    "Engine",
    "EngineChoice",
    "FrameDetector",
    "InvalidModelError",
    "ModelAdapter",
    "ModelInfo",
    "ModelNotFoundError",
    "OpenVinoSession",
    "PreparedInput",
    "RemoteServerError",
    "RemoteSession",
    "TensorInfo",
    "UnsupportedModelError",
    "cached_session_count",
    "clear_session_cache",
    "default_threads",
    "load_deepstack_detector",
    "load_detector",
    "load_remote_detector",
    "openvino_available",
]
