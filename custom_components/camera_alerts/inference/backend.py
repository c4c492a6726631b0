"""ONNX Runtime sessions: one per model file and options, shared by every camera.

``InferenceSession.run`` is thread-safe, so a single session serves all
cameras; the cache below only guards its own bookkeeping with a lock.
Threads are set explicitly for a small host: ``intra_op_num_threads``
(default ``min(2, CPUs)``), one inter-op thread, and thread spinning off so
idle workers do not burn CPU between frames.

:class:`ModelCache` is shared with the OpenVINO engine
(:mod:`.openvino_backend`): one loaded model per file and options.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
import os
from pathlib import Path
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal
import weakref

from .adapters import ModelInfo
from .errors import (
    BackendUnavailableError,
    InvalidModelError,
    ModelNotFoundError,
    TensorInfo,
)

if TYPE_CHECKING:
    from .openvino_backend import OpenVinoOptions

ONNX_MAGIC_MIN_SIZE = 16

type Engine = Literal["onnxruntime", "openvino", "remote"]
"""What runs a detector's model: local ONNX Runtime, local OpenVINO, or a server."""


def onnxruntime_module() -> ModuleType:
    """Import ONNX Runtime on first use, so this package loads where it is missing.

    Raises BackendUnavailableError when it cannot be imported (no musl wheels).
    """
    try:
        import onnxruntime  # type: ignore[import-untyped,unused-ignore]
    except ImportError as err:
        raise BackendUnavailableError(
            f"ONNX Runtime cannot be imported on this system ({err})"
        ) from err
    module: ModuleType = onnxruntime
    return module


def default_threads() -> int:
    """Intra-op threads for a small host: two, or fewer when the machine has fewer CPUs."""
    process_cpu_count = getattr(os, "process_cpu_count", os.cpu_count)
    return max(1, min(2, process_cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """The options that make two sessions of one model file differ (part of the cache key)."""

    intra_op_num_threads: int
    inter_op_num_threads: int = 1
    providers: tuple[str, ...] = ("CPUExecutionProvider",)

    def build(self) -> Any:
        """Build the ``onnxruntime.SessionOptions`` for these settings."""
        ort = onnxruntime_module()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_num_threads
        options.inter_op_num_threads = self.inter_op_num_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        return options


@dataclass(frozen=True, slots=True, weakref_slot=True)
class LoadedSession:
    """A session and what it says about its model.

    Detectors hold it; the model caches only refer to it weakly, so the model
    and its memory go once no detector uses them.
    """

    path: Path
    # onnxruntime.InferenceSession (untyped package), OpenVinoSession or RemoteSession:
    # anything with ``run(output_names, feeds) -> list[ndarray]``.
    session: Any
    info: ModelInfo
    options: SessionOptions | OpenVinoOptions
    engine: Engine = "onnxruntime"


def resolve_model_path(model_path: str | os.PathLike[str]) -> Path:
    """Resolve a model path, raising ModelNotFoundError if it is not a readable file."""
    path = Path(model_path).expanduser()
    try:
        resolved = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError) as err:
        raise ModelNotFoundError(f"Model file not found: {path}") from err
    if not resolved.is_file():
        raise ModelNotFoundError(f"Model path is not a file: {resolved}")
    if not os.access(resolved, os.R_OK):  # pragma: no cover - CI runs as root
        raise ModelNotFoundError(f"Model file is not readable: {resolved}")
    return resolved


def _tensor_info(args: Sequence[Any]) -> tuple[TensorInfo, ...]:
    return tuple(
        TensorInfo(
            name=str(arg.name),
            shape=tuple(
                dim if isinstance(dim, int | str) else None for dim in (arg.shape or ())
            ),
            type=str(arg.type),
        )
        for arg in args
    )


def _create(path: Path, options: SessionOptions) -> LoadedSession:
    size = path.stat().st_size
    if size < ONNX_MAGIC_MIN_SIZE:
        raise InvalidModelError(f"{path} is not an ONNX model ({size} bytes)")
    ort = onnxruntime_module()
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options.build(), providers=list(options.providers)
        )
    except Exception as err:  # onnxruntime raises its own (pybind) exception types
        first_line = (
            str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        )
        raise InvalidModelError(
            f"Cannot load {path} as an ONNX model: {first_line}"
        ) from err
    meta = session.get_modelmeta()
    info = ModelInfo(
        inputs=_tensor_info(session.get_inputs()),
        outputs=_tensor_info(session.get_outputs()),
        metadata=dict(meta.custom_metadata_map or {}),
        producer=str(meta.producer_name or ""),
        graph_name=str(meta.graph_name or ""),
        description=str(meta.description or ""),
    )
    return LoadedSession(path=path, session=session, info=info, options=options)


class ModelCache[O: Hashable]:
    """Loaded models shared per (resolved path, mtime, size, options).

    The key includes the file's size and modification time, so a model
    replaced on disk is loaded afresh (and the stale entry dropped). Loading
    happens outside the cache lock, but only once per key: a second caller for
    the same key waits for the first. Entries are weak: a model stays while a
    detector uses it (every camera shares it) and is released with the last
    one, so models tried in a flow, replaced, or of a removed entry do not pile up.
    """

    def __init__(self, create: Callable[[Path, O], LoadedSession]) -> None:
        self._create = create
        self._cache: weakref.WeakValueDictionary[
            tuple[str, int, int, O], LoadedSession
        ] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._load_locks: dict[tuple[str, int, int, O], threading.Lock] = {}
        with _caches_lock:
            _caches.append(self)

    def get(self, model_path: str | os.PathLike[str], options: O) -> LoadedSession:
        """Return the shared model for ``model_path`` and ``options``, loaded on first use."""
        path = resolve_model_path(model_path)
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size, options)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None:
                return cached
            loaded = self._create(path, options)
            with self._lock:
                stale = [
                    k
                    for k in list(self._cache.keys())
                    if k[0] == key[0] and k[1:3] != key[1:3]
                ]
                for old in stale:
                    self._cache.pop(old, None)
                self._cache[key] = loaded
                self._load_locks.pop(key, None)
            return loaded

    def clear(self) -> None:
        """Drop every cached model (each closes once no detector uses it)."""
        with self._lock:
            self._cache.clear()

    def __len__(self) -> int:
        """How many models the cache holds."""
        with self._lock:
            return len(self._cache)


_caches: list[ModelCache[Any]] = []
_caches_lock = threading.Lock()
# A lambda, so that tests can replace ``_create``.
_sessions: ModelCache[SessionOptions] = ModelCache(
    lambda path, options: _create(path, options)
)


def get_session(
    model_path: str | os.PathLike[str], options: SessionOptions
) -> LoadedSession:
    """Return the shared ONNX Runtime session for ``model_path`` and ``options``.

    Created on first use; a model replaced on disk is loaded afresh.
    """
    return _sessions.get(model_path, options)


def clear_session_cache() -> None:
    """Drop every cached session of every engine (they close once no detector uses them)."""
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.clear()


def cached_session_count() -> int:
    """How many sessions (of every engine) the caches hold, for diagnostics and tests."""
    with _caches_lock:
        caches = list(_caches)
    return sum(len(cache) for cache in caches)
