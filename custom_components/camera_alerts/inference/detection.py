"""The detector's result type and interface, shared by every backend and adapter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypedDict

import numpy.typing as npt


class BoundingBox(TypedDict):
    """A box in frame pixels: top-left corner plus size."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found in one frame."""

    class_id: int
    class_name: str
    confidence: float
    bbox: BoundingBox
    metadata: dict[str, Any] = field(default_factory=dict)


class FrameDetector(Protocol):
    """What the pipeline and the runtime need of a detector, whichever backend runs it.

    `Detector` (ONNX Runtime, OpenVINO, an Open Inference Protocol server) and
    `DeepStackDetector` (a DeepStack / CodeProject.AI server) both fit.
    """

    @property
    def input_size(self) -> tuple[int, int]:
        """``(width, height)`` the motion gate sizes its crops for."""
        ...

    @property
    def engine(self) -> str:
        """What runs the model (``onnxruntime``, ``openvino``, ``remote``, ``deepstack``)."""
        ...

    @property
    def model_path(self) -> Path:
        """The model file, or a path naming the model on its server."""
        ...

    @property
    def adapter_name(self) -> str:
        """Which reader decodes the model's outputs."""
        ...

    @property
    def class_names(self) -> Sequence[str]:
        """The model's class names, by class id."""
        ...

    def detect(
        self,
        frame_bgr: npt.NDArray[Any],
        region: tuple[float, float, float, float] | None = None,
    ) -> list[Detection]:
        """Detect objects in a BGR frame (or its ``(x, y, w, h)`` region); boxes in frame pixels."""
        ...
