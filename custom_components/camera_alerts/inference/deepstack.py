"""A detector backend on a DeepStack or CodeProject.AI server.

Both servers answer the same HTTP API: ``POST {base}/v1/vision/detection``
with a ``multipart/form-data`` body holding the ``image`` file, an optional
``min_confidence`` (the server's default is 0.4) and, for a DeepStack started
with ``API-KEY``, the ``api_key``. The answer is JSON::

    {"success": true,
     "predictions": [{"label": "person", "confidence": 0.91,
                      "x_min": 12, "y_min": 30, "x_max": 200, "y_max": 400}]}

with boxes in pixels of the sent image (CodeProject.AI adds ``count``,
``message``, ``inferenceMs``, ``processMs``, ``moduleId`` and more; DeepStack
adds ``duration``). Failures are ``{"success": false, "error": "..."}``, with
HTTP 200 or an error status (DeepStack: 400 bad image or ``min_confidence``,
401 ``Incorrect api key``, 403 detection not enabled, 500 server error).

The server runs its own model: this side only crops the frame (the motion
region), encodes it as JPEG, sends it and maps the boxes back to frame pixels,
then applies the same label allow-list and per-label minimum scores as
:class:`~.detector.Detector`. Blocking, standard library HTTP (as
:mod:`.remote`): detection runs in a worker thread. Works without OpenCV
(Pillow encodes the JPEG), so on HA OS too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
import json
import logging
import math
from pathlib import Path
import re
from typing import Any, Final
import urllib.error
import urllib.parse
import urllib.request
import uuid

import numpy as np
import numpy.typing as npt

from . import preprocess
from .detection import BoundingBox, Detection
from .detector import DEFAULT_MAX_DETECTIONS, DEFAULT_SCORE_THRESHOLD, Region
from .labels import COCO_80
from .preprocess import HAVE_OPENCV, as_bgr, clamp_region
from .remote import RemoteServerError
from .server_http import send

_LOGGER = logging.getLogger(__name__)

DETECTION_PATH: Final = "/v1/vision/detection"
# DeepStack and CodeProject.AI serve custom models at /v1/vision/custom/{name}.
_CUSTOM_PATH = re.compile(r"^(?P<prefix>.*)/v1/vision/custom/(?P<name>[^/]+)$")
DEFAULT_INPUT_SIZE: Final = (640, 640)
JPEG_QUALITY: Final = 90
# The warm-up image: small, plain grey (nothing to find, quick to run).
WARMUP_SIZE: Final = 64
# Names some servers spell differently from COCO-80 (DeepStack's docs list
# "stop_sign" and "hair dryer"); matched after lower-casing, "_" -> " ".
_LABEL_ALIASES: Final = {"hair dryer": "hair drier", "donot": "donut"}
_COCO_INDEX: Final = {name: index for index, name in enumerate(COCO_80)}

# One prediction: (label, confidence, x_min, y_min, x_max, y_max) in sent-image pixels.
type _Row = tuple[str, float, float, float, float, float]


def _canonical_label(label: str) -> str:
    """Return the COCO-80 spelling of a server's label when there is one, else the label."""
    key = " ".join(label.strip().lower().replace("_", " ").split())
    key = _LABEL_ALIASES.get(key, key)
    return key if key in _COCO_INDEX else label.strip()


def encode_jpeg(image_bgr: npt.NDArray[np.uint8], quality: int = JPEG_QUALITY) -> bytes:
    """Encode a BGR image as JPEG: OpenCV when it imports, else Pillow."""
    data = preprocess.encode_jpeg(image_bgr, int(quality), opencv=HAVE_OPENCV)
    if data is None:
        raise ValueError("The frame could not be encoded as JPEG")
    return data


def _multipart(
    fields: Mapping[str, str], image: bytes, filename: str = "image.jpg"
) -> tuple[bytes, str]:
    """Build a ``multipart/form-data`` body (``image`` and text fields); return it and its type."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    chunks.append(
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="image"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
    )
    chunks.append(image)
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{what} is {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is {value!r}")
    return number


class DeepStackDetector:
    """Detects objects on a DeepStack / CodeProject.AI server. Thread-safe.

    Same surface as :class:`~.detector.Detector` for the pipeline: ``detect``,
    ``input_size``, ``engine``, ``model_path``, ``adapter_name``,
    ``class_names``, ``labels``, ``min_scores``, ``score_threshold``.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        min_scores: Mapping[str, float] | None = None,
        labels: Collection[str] | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.2,
        input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
        max_detections: int = DEFAULT_MAX_DETECTIONS,
        jpeg_quality: int = JPEG_QUALITY,
    ) -> None:
        """Point at the server: ``http://host:port``, optionally with a path prefix.

        The full ``.../v1/vision/detection`` URL works too, and a
        ``.../v1/vision/custom/{model}`` URL runs that custom model instead.

        Raises:
            RemoteServerError: not an http(s) URL, or credentials in it.

        """
        parsed = urllib.parse.urlsplit(url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise RemoteServerError(f"Not an http(s) URL: {url!r}")
        if parsed.username or parsed.password:
            raise RemoteServerError(
                "Put no credentials in the DeepStack / CodeProject.AI server URL"
            )
        path = parsed.path.rstrip("/")
        custom = _CUSTOM_PATH.match(path)
        if custom is not None:
            prefix = custom["prefix"]
            endpoint = path[len(prefix) :]
            model = Path("deepstack", "custom", urllib.parse.unquote(custom["name"]))
        else:
            prefix = path.removesuffix(DETECTION_PATH)
            endpoint = DETECTION_PATH
            model = Path("deepstack")
        self.base_url = urllib.parse.urlunsplit(
            (parsed.scheme, parsed.netloc, prefix, "", "")
        )
        self.endpoint = endpoint
        self._model_path = model
        self._api_key = api_key or None
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self._input_size = (int(input_size[0]), int(input_size[1]))
        self.max_detections = int(max_detections)
        self.jpeg_quality = int(jpeg_quality)
        self.class_names: tuple[str, ...] = COCO_80
        self.score_threshold = float(score_threshold)
        self.min_scores: dict[str, float] = {
            str(k): float(v) for k, v in (min_scores or {}).items()
        }
        self.labels: frozenset[str] | None = (
            frozenset(labels) if labels is not None else None
        )
        self.min_confidence = self._min_confidence()

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        """The detection endpoint."""
        return self.base_url + self.endpoint

    @property
    def engine(self) -> str:
        """What runs the model: always ``deepstack`` (DeepStack or CodeProject.AI)."""
        return "deepstack"

    @property
    def adapter_name(self) -> str:
        """How the answers are read: the DeepStack API."""
        return "deepstack"

    @property
    def model_path(self) -> Path:
        """Names the model: ``deepstack`` (or ``deepstack/custom/{model}``)."""
        return self._model_path

    @property
    def input_size(self) -> tuple[int, int]:
        """The crop size the motion gate aims for (the server scales images itself)."""
        return self._input_size

    def __repr__(self) -> str:
        """Where detection runs (never the API key)."""
        key = ", api_key=set" if self._api_key else ""
        return f"DeepStackDetector({self.url}{key})"

    # ------------------------------------------------------------------ thresholds

    def threshold(self, label: str) -> float:
        """Minimum score for ``label``; ``inf`` when the allow-list leaves it out."""
        if self.labels is not None and label not in self.labels:
            return math.inf
        return self.min_scores.get(label, self.score_threshold)

    def _min_confidence(self) -> float:
        """Return the lowest threshold in use: the server drops everything below it."""
        if self.labels is None:
            candidates = [self.score_threshold, *self.min_scores.values()]
        else:
            candidates = [self.threshold(label) for label in self.labels]
        finite = [value for value in candidates if math.isfinite(value)]
        lowest = min(finite) if finite else self.score_threshold
        return min(1.0, max(0.0, lowest))

    # ------------------------------------------------------------------ HTTP

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    def _fail(self, message: str) -> RemoteServerError:
        return RemoteServerError(self._redact(message))

    def _post(self, image: bytes) -> dict[str, Any]:
        """Send one image; return the decoded ``success: true`` answer.

        Connection failures, timeouts and 5xx answers are retried with backoff.
        """
        fields = {"min_confidence": f"{self.min_confidence:.6g}"}
        if self._api_key:
            fields["api_key"] = self._api_key
        body, content_type = _multipart(fields, image)
        raw, _ = send(
            self.url,
            body=body,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
            http_error=self._http_error,
            unreachable=lambda why: self._fail(
                f"Cannot reach the DeepStack / CodeProject.AI server "
                f"{self.base_url}: {why}"
            ),
        )
        return self._answer(raw)

    def _http_error(self, code: int, detail: str) -> RemoteServerError:
        if code == 401:  # DeepStack: "Incorrect api key"
            what = "refused the API key" if self._api_key else "wants an API key"
            return self._fail(f"{self.base_url} {what} (HTTP 401: {detail})")
        if code == 403:  # DeepStack: "Detection endpoint not activated"; proxies
            return self._fail(
                f"{self.base_url} refused the request (HTTP 403: {detail}); check "
                "the API key and that the server's object detection is on"
            )
        if code in (404, 405):
            return self._fail(
                f"{self.base_url} has no {self.endpoint} (HTTP {code}): not a "
                "DeepStack or CodeProject.AI server, or its object detection is off"
            )
        return self._fail(
            f"{self.base_url} answered HTTP {code} for {self.endpoint}: {detail}"
        )

    def _answer(self, raw: bytes) -> dict[str, Any]:
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if not isinstance(document, dict) or "success" not in document:
            raise self._fail(
                f"{self.base_url}{self.endpoint} did not answer like DeepStack or "
                "CodeProject.AI (no JSON with 'success')"
            )
        if document.get("success") is not True:
            error = str(document.get("error") or document.get("message") or "")
            raise self._fail(
                f"{self.base_url} failed the detection: {error or 'no reason given'}"
            )
        return document

    # ------------------------------------------------------------------ running

    def warm_up(self) -> None:
        """Send one small blank image: the server must answer the API (and the key)."""
        blank = np.full((WARMUP_SIZE, WARMUP_SIZE, 3), 114, dtype=np.uint8)
        self._predictions(self._post(encode_jpeg(blank, self.jpeg_quality)))

    def detect(
        self, frame_bgr: npt.NDArray[Any], region: Region | None = None
    ) -> list[Detection]:
        """Detect objects in a BGR frame.

        ``region`` = ``(x, y, w, h)`` in frame pixels sends that crop only
        (clamped into the frame); the boxes are still in full-frame pixels,
        clipped to the crop.

        Raises:
            RemoteServerError: the server cannot be reached, refuses the request
                or fails the detection.

        """
        frame = as_bgr(frame_bgr)
        height, width = frame.shape[:2]
        if width == 0 or height == 0:
            raise ValueError("frame is empty")
        rx, ry, rw, rh = clamp_region(region, width, height)
        crop = frame[ry : ry + rh, rx : rx + rw]
        try:
            image = encode_jpeg(crop, self.jpeg_quality)
        except (ValueError, OSError) as err:
            raise RemoteServerError(f"Cannot encode the frame as JPEG: {err}") from err
        predictions = self._predictions(self._post(image))
        return self._finish(predictions, (rx, ry, rw, rh))

    def _predictions(self, document: Mapping[str, Any]) -> list[_Row]:
        """``(label, confidence, x1, y1, x2, y2)`` of each prediction in an answer."""
        items = document.get("predictions")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise self._fail(f"{self.base_url} sent 'predictions' that are not a list")
        rows: list[_Row] = []
        try:
            for item in items:
                confidence = _number(item["confidence"], "confidence")
                if confidence > 1.0:  # a percentage (old DeepStack documentation)
                    confidence /= 100.0
                rows.append(
                    (
                        _canonical_label(str(item["label"])),
                        confidence,
                        _number(item["x_min"], "x_min"),
                        _number(item["y_min"], "y_min"),
                        _number(item["x_max"], "x_max"),
                        _number(item["y_max"], "y_max"),
                    )
                )
        except (KeyError, TypeError, ValueError) as err:
            raise self._fail(
                f"{self.base_url} sent an unreadable prediction: {err}"
            ) from None
        return rows

    def _finish(
        self,
        rows: Iterable[_Row],
        crop: tuple[int, int, int, int],
    ) -> list[Detection]:
        rx, ry, rw, rh = crop
        kept: list[Detection] = []
        for label, confidence, x_min, y_min, x_max, y_max in rows:
            if confidence < self.threshold(label):
                continue
            x1 = min(max(x_min + rx, rx), rx + rw)
            y1 = min(max(y_min + ry, ry), ry + rh)
            x2 = min(max(x_max + rx, rx), rx + rw)
            y2 = min(max(y_max + ry, ry), ry + rh)
            if x2 - x1 < 1.0 or y2 - y1 < 1.0:
                continue
            kept.append(
                Detection(
                    class_id=_COCO_INDEX.get(label, -1),
                    class_name=label,
                    confidence=confidence,
                    bbox=BoundingBox(
                        x=float(x1),
                        y=float(y1),
                        width=float(x2 - x1),
                        height=float(y2 - y1),
                    ),
                )
            )
        kept.sort(key=lambda detection: -detection.confidence)
        return kept[: self.max_detections]


def load_deepstack_detector(
    url: str,
    *,
    api_key: str | None = None,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    min_scores: Mapping[str, float] | None = None,
    labels: Iterable[str] | None = None,
    timeout: float = 10.0,
    retries: int = 2,
    warmup: bool = True,
) -> DeepStackDetector:
    """Return a detector whose model runs on a DeepStack or CodeProject.AI server.

    Blocking (HTTP): call it from an executor in Home Assistant. With
    ``warmup`` one small blank image is sent, so a wrong URL, a wrong API key
    or a server without object detection fails here.

    Raises:
        RemoteServerError: a bad URL (or credentials in it); the server is
            unreachable, refuses the API key, is no DeepStack / CodeProject.AI
            server or fails the detection. The message never holds the key.

    """
    detector = DeepStackDetector(
        url,
        api_key=api_key,
        score_threshold=score_threshold,
        min_scores=min_scores,
        labels=None if labels is None else list(labels),
        timeout=timeout,
        retries=retries,
    )
    if warmup:
        detector.warm_up()
    _LOGGER.debug("Loaded %r", detector)
    return detector
