"""Errors raised while loading or running a detection model."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class TensorInfo(NamedTuple):
    """Name, shape and element type of one model input or output, as the runtime reports it."""

    name: str
    shape: tuple[int | str | None, ...]
    type: str

    def describe(self) -> str:
        """Return e.g. ``images float32[1, 3, 640, 640]``."""
        dims = ", ".join("?" if dim is None else str(dim) for dim in self.shape)
        element = self.type.removeprefix("tensor(").removesuffix(")")
        return f"{self.name} {element}[{dims}]"


class DetectorError(Exception):
    """Base class of every error the detector raises on purpose."""


class BackendUnavailableError(DetectorError):
    """The local backend's packages (ONNX Runtime, OpenCV) cannot be imported here.

    PyPI has no musl wheels for them, so this is the normal state on HA OS and
    in the HA container; the remote backend works there.
    """


class ModelNotFoundError(DetectorError, FileNotFoundError):
    """The model file does not exist or is not a regular file."""


class InvalidModelError(DetectorError):
    """The file is not a loadable ONNX model (wrong format, truncated, corrupt)."""


class UnsupportedModelError(DetectorError):
    """The model loads, but no adapter understands its inputs and outputs."""

    def __init__(
        self,
        reason: str,
        inputs: Iterable[TensorInfo] = (),
        outputs: Iterable[TensorInfo] = (),
    ) -> None:
        self.reason = reason
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        found_in = ", ".join(item.describe() for item in self.inputs) or "none"
        found_out = ", ".join(item.describe() for item in self.outputs) or "none"
        super().__init__(f"{reason} (inputs: {found_in}; outputs: {found_out})")
