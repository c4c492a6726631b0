"""A detector backend on an Open Inference Protocol server (KServe v2 REST).

One inference server (Triton, KServe, OpenVINO Model Server, MLServer) serves
many cameras. The server's model metadata (``GET /v2/models/{name}``) gives the
inputs and outputs, from which the usual adapter selection picks the decoder;
``POST /v2/models/{name}/infer`` runs the model, with the binary tensor
extension by default (raw little-endian bytes after a JSON header) or plain
JSON tensors. Blocking, standard library only: detection runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import json
import logging
import os
from pathlib import Path
from typing import Any, Final
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import numpy.typing as npt

from .adapters import ModelInfo, build_adapter
from .backend import LoadedSession, SessionOptions
from .detector import (
    DEFAULT_MAX_DETECTIONS,
    DEFAULT_NMS_IOU,
    DEFAULT_SCORE_THRESHOLD,
    Detector,
    warm_up,
)
from .errors import DetectorError, TensorInfo
from .labels import COCO_80, read_labels_file
from .preprocess import ResizeMode
from .server_http import send

_LOGGER = logging.getLogger(__name__)

HEADER_LENGTH = "Inference-Header-Content-Length"
# Requests one Home Assistant may have in flight to its server. A local engine
# runs one inference at a time (more would only fight over the cores); a server
# overlaps requests (network, decoding, its own batching and accelerators).
REMOTE_CONCURRENCY: Final = 4
# Open Inference Protocol datatype -> (ONNX Runtime type string, numpy dtype).
DATATYPES: dict[str, tuple[str, str]] = {
    "FP32": ("tensor(float)", "<f4"),
    "FP16": ("tensor(float16)", "<f2"),
    "FP64": ("tensor(double)", "<f8"),
    "UINT8": ("tensor(uint8)", "u1"),
    "INT8": ("tensor(int8)", "i1"),
    "INT32": ("tensor(int32)", "<i4"),
    "INT64": ("tensor(int64)", "<i8"),
    "BOOL": ("tensor(bool)", "?"),
}
_NUMPY_TO_DATATYPE = {
    np.dtype(dtype).str: name for name, (_, dtype) in DATATYPES.items()
}


class RemoteServerError(DetectorError):
    """The inference server cannot be reached or refused the request."""


def _datatype_of(array: npt.NDArray[Any]) -> str:
    name = _NUMPY_TO_DATATYPE.get(array.dtype.newbyteorder("<").str) or (
        "BOOL" if array.dtype == np.bool_ else None
    )
    if name is None:
        raise RemoteServerError(f"Cannot send a {array.dtype} tensor")
    return name


def _tensor_infos(items: Iterable[Mapping[str, Any]]) -> tuple[TensorInfo, ...]:
    infos = []
    for item in items:
        datatype = str(item.get("datatype", ""))
        shape = tuple(
            None if int(dim) < 0 else int(dim) for dim in item.get("shape") or ()
        )
        onnx_type = DATATYPES.get(datatype, (f"tensor({datatype.lower()})", ""))[0]
        infos.append(TensorInfo(name=str(item["name"]), shape=shape, type=onnx_type))
    return tuple(infos)


class RemoteSession:
    """The ``session.run`` of a model on an Open Inference Protocol server."""

    def __init__(
        self,
        url: str,
        model_name: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.2,
        binary: bool = True,
    ) -> None:
        """Point at ``url`` (``http://host:port``, optionally with a path prefix)."""
        parsed = urllib.parse.urlsplit(url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise RemoteServerError(f"Not an http(s) URL: {url!r}")
        if parsed.username or parsed.password:
            raise RemoteServerError("Put no credentials in the inference server URL")
        self.base_url = urllib.parse.urlunsplit(
            (parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", "")
        )
        self.model_name = model_name
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.binary = binary
        self._model_path = "/v2/models/" + urllib.parse.quote(model_name, safe="")

    def __repr__(self) -> str:
        """Where the model is served."""
        return f"RemoteSession({self.base_url}{self._model_path})"

    # ------------------------------------------------------------------ HTTP

    def _request(
        self,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[bytes, Mapping[str, str]]:
        """Send one request, retrying connection failures and 5xx with backoff."""
        return send(
            self.base_url + path,
            body=body,
            headers=headers,
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
            http_error=lambda code, detail: RemoteServerError(
                f"{self.base_url} answered {code} for model "
                f"{self.model_name!r}: {detail}"
            ),
            unreachable=lambda why: RemoteServerError(
                f"Cannot reach the inference server {self.base_url}: {why}"
            ),
        )

    # ------------------------------------------------------------------ protocol

    def model_info(self) -> ModelInfo:
        """Read the model's inputs and outputs from the server's metadata."""
        raw, _ = self._request(self._model_path)
        try:
            meta = json.loads(raw)
            inputs = _tensor_infos(meta["inputs"])
            outputs = _tensor_infos(meta["outputs"])
        except (ValueError, KeyError, TypeError) as err:
            raise RemoteServerError(
                f"{self.base_url} sent no usable metadata for {self.model_name!r}"
            ) from err
        if not inputs or not outputs:
            raise RemoteServerError(
                f"{self.base_url} lists no inputs or outputs for {self.model_name!r}"
            )
        return ModelInfo(
            inputs=inputs,
            outputs=outputs,
            metadata={},
            producer=str(meta.get("platform") or ""),
            graph_name=str(meta.get("name") or self.model_name),
            description="",
        )

    def run(
        self,
        output_names: Sequence[str],
        feeds: Mapping[str, npt.NDArray[Any]],
    ) -> list[npt.NDArray[Any]]:
        """Run the model on ``feeds``; return ``output_names`` in order."""
        arrays = {name: np.ascontiguousarray(value) for name, value in feeds.items()}
        inputs: list[dict[str, Any]] = []
        for name, array in arrays.items():
            item: dict[str, Any] = {
                "name": name,
                "shape": list(array.shape),
                "datatype": _datatype_of(array),
            }
            if self.binary:
                item["parameters"] = {"binary_data_size": array.nbytes}
            else:
                item["data"] = array.reshape(-1).tolist()
            inputs.append(item)
        header = json.dumps(
            {
                "inputs": inputs,
                "outputs": [
                    {"name": name, "parameters": {"binary_data": self.binary}}
                    for name in output_names
                ],
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.binary:
            headers = {
                "Content-Type": "application/octet-stream",
                HEADER_LENGTH: str(len(header)),
            }
            body = b"".join(
                [
                    header,
                    *(
                        array.astype(
                            array.dtype.newbyteorder("<"), copy=False
                        ).tobytes()
                        for array in arrays.values()
                    ),
                ]
            )
        else:
            body = header
        raw, response_headers = self._request(
            self._model_path + "/infer", body, headers
        )
        return self._decode(raw, response_headers, output_names)

    def _decode(
        self,
        raw: bytes,
        headers: Mapping[str, str],
        output_names: Sequence[str],
    ) -> list[npt.NDArray[Any]]:
        lengths = {key.lower(): value for key, value in headers.items()}
        header_length = lengths.get(HEADER_LENGTH.lower())
        split = int(header_length) if header_length is not None else len(raw)
        try:
            document = json.loads(raw[:split])
            by_name: dict[str, npt.NDArray[Any]] = {}
            offset = split
            for output in document["outputs"]:
                datatype = str(output["datatype"])
                dtype = np.dtype(DATATYPES[datatype][1])
                shape = tuple(int(dim) for dim in output["shape"])
                size = (output.get("parameters") or {}).get("binary_data_size")
                if size is not None:
                    chunk = raw[offset : offset + int(size)]
                    offset += int(size)
                    array = np.frombuffer(chunk, dtype=dtype).reshape(shape)
                else:
                    array = np.asarray(output["data"], dtype=dtype).reshape(shape)
                by_name[str(output["name"])] = array.astype(dtype.newbyteorder("="))
            return [by_name[name] for name in output_names]
        except (ValueError, KeyError, TypeError) as err:
            raise RemoteServerError(
                f"{self.base_url} sent an unreadable inference response for "
                f"{self.model_name!r}: {err}"
            ) from err


def load_remote_detector(
    url: str,
    model_name: str,
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
    timeout: float = 10.0,
    retries: int = 2,
    binary: bool = True,
    warmup: bool = True,
) -> Detector:
    """Return a detector whose model runs on an Open Inference Protocol server.

    Blocking (HTTP): call it from an executor in Home Assistant. The adapter is
    chosen from the server's model metadata exactly as for a local ONNX file;
    class names default to COCO-80 (servers do not pass ONNX metadata on).

    Raises:
        RemoteServerError: the server is unreachable, or refuses or does not know the model.
        UnsupportedModelError: no adapter understands the model's inputs/outputs.

    """
    session = RemoteSession(
        url, model_name, timeout=timeout, retries=retries, binary=binary
    )
    info = session.model_info()
    if class_names is not None:
        names = [str(name) for name in class_names]
    elif labels_file is not None:
        names = read_labels_file(Path(labels_file))
    else:
        names = list(COCO_80)
    model_adapter = build_adapter(
        info, adapter=adapter, input_size=input_size, resize_mode=resize_mode
    )
    loaded = LoadedSession(
        path=Path(model_name),
        session=session,
        info=info,
        options=SessionOptions(intra_op_num_threads=1),
        engine="remote",
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
        warm_up(detector)
    _LOGGER.debug("Loaded %r from %r", detector, session)
    return detector
