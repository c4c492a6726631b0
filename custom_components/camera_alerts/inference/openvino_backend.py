"""OpenVINO engine: the ONNX model file compiled for the CPU, shared by every camera.

OpenVINO reads the ONNX file itself (no conversion step). One compiled model
per file and options is cached like ONNX Runtime sessions (:class:`.ModelCache`).
A compiled model's ``__call__`` reuses a single infer request and is not safe
from several threads; :class:`OpenVinoSession` keeps a small pool of infer
requests instead, one per concurrent caller, created on demand and reused.

Settings for a small, shared host: the latency hint (one stream),
``INFERENCE_NUM_THREADS`` = the ONNX Runtime intra-op thread count, no CPU
pinning (Home Assistant and the camera readers share the cores), and float32
inference precision, so scores match ONNX Runtime on CPUs whose default would
be bf16 or f16. OpenVINO's CPU plugin has no spin-wait setting.

``openvino`` is imported on first use; where it cannot be imported,
:class:`.BackendUnavailableError` is raised. Importing ``openvino`` also
imports its model converter, which (through the ``openvino_telemetry``
package) sends a usage event to Google Analytics from a forked process and
writes a client id under ``~/intel`` unless the user opted out; the import
below hides ``openvino_telemetry`` so the converter falls back to its no-op
stub. Import OpenVINO through :func:`openvino_module` only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
import mmap
import os
from pathlib import Path
import sys
import threading
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .adapters import ModelInfo
from .backend import (
    ONNX_MAGIC_MIN_SIZE,
    LoadedSession,
    ModelCache,
)
from .errors import BackendUnavailableError, InvalidModelError, TensorInfo

# OpenVINO element type names -> ONNX Runtime type strings.
_ONNX_TYPES = {
    "f32": "tensor(float)",
    "f16": "tensor(float16)",
    "bf16": "tensor(bfloat16)",
    "f64": "tensor(double)",
    "i8": "tensor(int8)",
    "u8": "tensor(uint8)",
    "i16": "tensor(int16)",
    "u16": "tensor(uint16)",
    "i32": "tensor(int32)",
    "u32": "tensor(uint32)",
    "i64": "tensor(int64)",
    "u64": "tensor(uint64)",
    "boolean": "tensor(bool)",
    "string": "tensor(string)",
}


_TELEMETRY = "openvino_telemetry"
_import_lock = threading.Lock()


def openvino_module() -> ModuleType:
    """Import OpenVINO on first use, so this package loads where it is missing.

    The first import runs with ``openvino_telemetry`` hidden (see the module
    docstring), so no usage data leaves the machine.

    Raises BackendUnavailableError when it cannot be imported.
    """
    with _import_lock:
        first = "openvino" not in sys.modules
        saved = sys.modules.get(_TELEMETRY)
        had_telemetry = _TELEMETRY in sys.modules
        if first:
            sys.modules[_TELEMETRY] = None  # type: ignore[assignment]  # import fails
        try:
            import openvino  # type: ignore[import-untyped,unused-ignore]
        except ImportError as err:
            raise BackendUnavailableError(
                f"OpenVINO cannot be imported on this system ({err})"
            ) from err
        finally:
            if first:
                if had_telemetry:
                    sys.modules[_TELEMETRY] = saved  # type: ignore[assignment]
                else:
                    sys.modules.pop(_TELEMETRY, None)
    module: ModuleType = openvino
    return module


def openvino_available() -> bool:
    """Whether OpenVINO can be imported here (it is then imported)."""
    try:
        openvino_module()
    except BackendUnavailableError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class OpenVinoOptions:
    """The options that make two compiled models of one file differ (part of the cache key)."""

    num_threads: int
    device: str = "CPU"
    performance_hint: str = "LATENCY"
    precision: str = "f32"
    cpu_pinning: bool = False

    def config(self) -> dict[str, Any]:
        """Return the ``compile_model`` configuration for these settings."""
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": self.performance_hint,
            "INFERENCE_NUM_THREADS": self.num_threads,
            "INFERENCE_PRECISION_HINT": self.precision,
        }
        if self.device == "CPU":
            config["ENABLE_CPU_PINNING"] = self.cpu_pinning
        return config


class OpenVinoSession:
    """``run(output_names, feeds)`` on a compiled model; thread-safe.

    Each call borrows an infer request from a pool (a new one when every
    request is busy) and gives it back afterwards, so concurrent callers never
    share a request, and the pool never holds more requests than there were
    callers at once.
    """

    def __init__(self, compiled_model: Any, options: OpenVinoOptions) -> None:
        self.compiled_model = compiled_model
        self.options = options
        self._outputs: dict[str, int] = {}
        for index, port in enumerate(compiled_model.outputs):
            for name in sorted(port.get_names()):
                self._outputs.setdefault(str(name), index)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._created = 0

    def __repr__(self) -> str:
        """Device and threads."""
        return (
            f"OpenVinoSession({self.options.device}, "
            f"threads={self.options.num_threads}, requests={self.request_count})"
        )

    @property
    def request_count(self) -> int:
        """How many infer requests the pool holds (idle or in use)."""
        with self._lock:
            return self._created

    def _borrow(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self._created += 1
        return self.compiled_model.create_infer_request()

    def _give_back(self, request: Any) -> None:
        with self._lock:
            self._idle.append(request)

    def run(
        self,
        output_names: Sequence[str] | None,
        feeds: Mapping[str, npt.NDArray[Any]],
    ) -> list[npt.NDArray[Any]]:
        """Run the model on ``feeds``; return ``output_names`` (``None``: all) in order."""
        if output_names is None:
            indices = list(range(len(self.compiled_model.outputs)))
        else:
            try:
                indices = [self._outputs[name] for name in output_names]
            except KeyError as err:
                raise ValueError(f"The model has no output {err.args[0]!r}") from None
        request = self._borrow()
        try:
            # Inputs are shared (no copy); outputs are views into the request's
            # tensors and are copied before the request is given back.
            results = request.infer(dict(feeds), share_inputs=True, share_outputs=True)
            outputs = [np.array(results[index], copy=True) for index in indices]
        except BaseException:
            # A request that failed mid-way is dropped rather than reused.
            with self._lock:
                self._created -= 1
            raise
        self._give_back(request)
        return outputs


# ----------------------------------------------------------------------------- ONNX header


class OnnxHeader(NamedTuple):
    """What ONNX Runtime reports about a model besides its tensors and metadata."""

    producer: str
    graph_name: str
    description: str


_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
# ModelProto fields
_PRODUCER_NAME, _DOC_STRING, _GRAPH = 2, 6, 7
# GraphProto field
_GRAPH_NAME = 2


def _varint(data: mmap.mmap | bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(
    data: mmap.mmap | bytes, pos: int, end: int
) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field, wire type, start, end)`` of each field of one protobuf message.

    ``start:end`` is the payload of length-delimited fields; for the others it
    is the encoded value. Raises ValueError on anything malformed.
    """
    while pos < end:
        tag, pos = _varint(data, pos, end)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise ValueError("field number 0")
        if wire == _VARINT:
            _, value_end = _varint(data, pos, end)
        elif wire == _FIXED64:
            value_end = pos + 8
        elif wire == _LENGTH:
            length, pos = _varint(data, pos, end)
            value_end = pos + length
        elif wire == _FIXED32:
            value_end = pos + 4
        else:  # groups (3, 4) are not used by ONNX; 6 and 7 do not exist
            raise ValueError(f"wire type {wire}")
        if value_end > end:
            raise ValueError("field runs past the end of its message")
        yield field, wire, pos, value_end
        pos = value_end


def _text(data: mmap.mmap | bytes, start: int, end: int) -> str:
    return bytes(data[start:end]).decode("utf-8", "replace")


def read_onnx_header(path: Path) -> OnnxHeader:
    """Read producer, graph name and doc string of an ONNX file without protobuf.

    Only the top-level fields of ``ModelProto`` and ``GraphProto`` are walked
    (every other payload is skipped by its length), so this is fast for large
    models. Raises ValueError when the file is not a ``ModelProto`` with a graph.
    """
    with (
        path.open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data,
    ):
        producer = description = graph_name = ""
        graph: tuple[int, int] | None = None
        for field, wire, start, end in _fields(data, 0, len(data)):
            if wire != _LENGTH:
                continue
            if field == _PRODUCER_NAME:
                producer = _text(data, start, end)
            elif field == _DOC_STRING:
                description = _text(data, start, end)
            elif field == _GRAPH:
                graph = (start, end)
        if graph is None:
            raise ValueError("no graph")
        for field, wire, start, end in _fields(data, *graph):
            if field == _GRAPH_NAME and wire == _LENGTH:
                graph_name = _text(data, start, end)
        return OnnxHeader(producer, graph_name, description)


# ----------------------------------------------------------------------------- loading


def _tensor_infos(ports: Sequence[Any]) -> tuple[TensorInfo, ...]:
    infos = []
    for port in ports:
        partial = port.get_partial_shape()
        shape: tuple[int | None, ...] = ()
        if partial.rank.is_static:
            shape = tuple(
                int(dim.get_length()) if dim.is_static else None for dim in partial
            )
        element = str(port.get_element_type().get_type_name())
        infos.append(
            TensorInfo(
                name=str(port.get_any_name()),
                shape=shape,
                type=_ONNX_TYPES.get(element, f"tensor({element})"),
            )
        )
    return tuple(infos)


def _metadata(model: Any) -> dict[str, str]:
    """Return the ONNX ``metadata_props`` (OpenVINO keeps them in ``rt_info["framework"]``)."""
    if not model.has_rt_info(["framework"]):
        return {}
    framework = model.get_rt_info()["framework"]
    if not isinstance(framework, Mapping):
        return {}
    return {str(key): str(value.astype(str)) for key, value in framework.items()}


def _first_line(err: BaseException) -> str:
    lines = [
        line.strip()
        for line in str(err).splitlines()
        if line.strip() and not line.strip().startswith("Exception from ")
    ]
    return lines[0] if lines else type(err).__name__


def _create(path: Path, options: OpenVinoOptions) -> LoadedSession:
    size = path.stat().st_size
    if size < ONNX_MAGIC_MIN_SIZE:
        raise InvalidModelError(f"{path} is not an ONNX model ({size} bytes)")
    # The header check keeps OpenVINO from trying every other frontend (and
    # logging their parse errors) on a file that is not ONNX at all.
    try:
        header = read_onnx_header(path)
    except (ValueError, OSError) as err:
        raise InvalidModelError(
            f"Cannot load {path} as an ONNX model: not an ONNX protobuf ({err})"
        ) from err
    ov = openvino_module()
    core = ov.Core()
    try:
        model = core.read_model(str(path))
        compiled = core.compile_model(model, options.device, options.config())
    except Exception as err:  # OpenVINO raises RuntimeError and its own types
        raise InvalidModelError(
            f"Cannot load {path} as an ONNX model with OpenVINO: {_first_line(err)}"
        ) from err
    info = ModelInfo(
        inputs=_tensor_infos(model.inputs),
        outputs=_tensor_infos(model.outputs),
        metadata=_metadata(model),
        producer=header.producer,
        graph_name=header.graph_name,
        description=header.description,
    )
    return LoadedSession(
        path=path,
        session=OpenVinoSession(compiled, options),
        info=info,
        options=options,
        engine="openvino",
    )


# A lambda, so that tests can replace ``_create``.
_compiled: ModelCache[OpenVinoOptions] = ModelCache(
    lambda path, options: _create(path, options)
)


def get_compiled_model(
    model_path: str | os.PathLike[str], options: OpenVinoOptions
) -> LoadedSession:
    """Return the shared OpenVINO model for ``model_path`` and ``options``.

    Compiled on first use; a model replaced on disk is compiled afresh.

    Raises:
        BackendUnavailableError: OpenVINO cannot be imported.
        ModelNotFoundError: no such file.
        InvalidModelError: not an ONNX model OpenVINO can read and compile.

    """
    openvino_module()  # even when cached: the engine must be importable
    return _compiled.get(model_path, options)
