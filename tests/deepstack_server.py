"""A DeepStack / CodeProject.AI-compatible server on 127.0.0.1, for tests and benchmarks.

Only the HTTP shell is fake: ``POST /v1/vision/detection`` parses the
``multipart/form-data`` body (``image``, ``min_confidence``, ``api_key``) the way
DeepStack documents it, and the detections are real ones: the bundled model
(`load_detector()`) runs on the uploaded image. Answers follow the documented
format: ``{"success": true, "predictions": [{"label", "confidence", "x_min",
"y_min", "x_max", "y_max"}]}`` with integer pixel boxes (both servers truncate
with ``int()``), plus CodeProject.AI's extra fields (``count``, ``message``,
``inferenceMs``, ``processMs``, ``moduleId``, ...) or DeepStack's ``duration``.
Errors as DeepStack sends them: 401 ``Incorrect api key``, 400 for a missing
image or a bad ``min_confidence``, ``{"success": false, "error": ...}``.

    with DeepStackServer(api_key="secret") as server:
        detector = load_deepstack_detector(server.url, api_key="secret")
        ...
        server.stop()   # an outage: nothing listens on server.port
        server.start()  # back on the same port
        server.requests, server.detections, server.forms[-1]["min_confidence"]

The server thread uses the real socket class, so it runs under pytest-socket
whatever the test allows (clients still need the ``socket_enabled`` fixture),
and in a fixture of any scope. It answers one request at a time.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import BytesIO
import json
import socket
import socketserver
import threading
import time
from types import TracebackType
from typing import Any, Literal, Self
import urllib.parse

import numpy as np
from PIL import Image, UnidentifiedImageError

from .camera_sources.media import HOST, real_socket

DETECTION_PATH = "/v1/vision/detection"
DEFAULT_MIN_CONFIDENCE = 0.4  # DeepStack's server and CodeProject.AI's docs
Flavor = Literal["codeproject", "deepstack"]


class _RealSocketServer(HTTPServer):
    """An HTTPServer whose listening and accepted sockets are real ones."""

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        # TCPServer.__init__ less its socket.socket(), which pytest-socket may block.
        socketserver.BaseServer.__init__(self, (HOST, port), handler)
        self.socket = real_socket(self.address_family, self.socket_type)
        try:
            self.server_bind()
            self.server_activate()
        except BaseException:
            self.server_close()
            raise

    def server_bind(self) -> None:
        # HTTPServer.server_bind also looks the host name up (slow, and not needed).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        # socket.accept() builds the connection with whatever socket.socket is
        # now, which pytest-socket may have replaced by a blocking guard.
        fd, address = self.socket._accept()  # type: ignore[attr-defined]
        connection = real_socket(
            self.socket.family, self.socket.type, self.socket.proto, fileno=fd
        )
        if socket.getdefaulttimeout() is None and self.socket.gettimeout():
            connection.setblocking(True)
        return connection, address


class LocalHttpServer:
    """A server on 127.0.0.1 in a thread; ``stop()`` then ``start()`` keeps the port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or 0
        self.requests = 0
        self._lock = threading.Lock()
        self._httpd: _RealSocketServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> None:
        """Listen (on the port of the last run, else a free one) and serve in a thread."""
        if self._httpd is not None:
            return
        httpd = _RealSocketServer(self.port, self._handler())
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the port (an outage); ``start()`` comes back."""
        httpd, self._httpd = self._httpd, None
        thread, self._thread = self._thread, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _QuietHandler(BaseHTTPRequestHandler):
    owner: LocalHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log on stderr

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, document: dict[str, Any]) -> None:
        self.send_body(status, json.dumps(document).encode(), "application/json")


class PlainHttpServer(LocalHttpServer):
    """Some other web server: every request gets ``status`` and an HTML page."""

    def __init__(self, status: int = 404, port: int | None = None) -> None:
        super().__init__(port)
        self.status = status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(_QuietHandler):
            def _answer(self) -> None:
                owner.count_request()
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_body(
                    owner.status,
                    b"<html><body><h1>Not a DeepStack server</h1></body></html>",
                    "text/html",
                )

            do_GET = do_POST = _answer

        return Handler


class DeepStackServer(LocalHttpServer):
    """``POST /v1/vision/detection`` answered with the bundled model's detections.

    Attributes a test reads: ``requests`` (every HTTP request), ``detections``
    (successful detection answers), ``forms`` (the text fields of each
    detection request, ``api_key`` included), ``image_sizes`` (``(w, h)`` of
    each decoded upload), ``last_image`` (the last uploaded file's bytes).
    A test sets ``label_map`` to rename labels, ``fail_next()`` to inject
    ``success: false`` answers.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        flavor: Flavor = "codeproject",
        port: int | None = None,
    ) -> None:
        """``flavor`` picks the extra response fields (CodeProject.AI or DeepStack)."""
        super().__init__(port)
        self.api_key = api_key
        self.flavor: Flavor = flavor
        self.detections = 0
        self.forms: list[dict[str, str]] = []
        self.image_sizes: list[tuple[int, int]] = []
        self.last_image: bytes | None = None
        # Labels to answer with instead of the model's (a custom model's names).
        self.label_map: dict[str, str] = {}
        self._failures: list[tuple[int, str]] = []
        self._detectors: dict[float, Any] = {}

    def fail_next(
        self,
        error: str = "Error occurred on the server",
        *,
        status: int = 200,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` detection requests ``{"success": false, "error": error}``."""
        with self._lock:
            self._failures.extend([(status, error)] * times)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = 0
            self.detections = 0
            self.forms.clear()
            self.image_sizes.clear()
            self.last_image = None

    # ------------------------------------------------------------------ model

    def _detector(self, min_confidence: float) -> Any:
        from custom_components.camera_alerts.inference import load_detector

        key = round(min_confidence, 6)
        with self._lock:
            detector = self._detectors.get(key)
        if detector is None:
            detector = load_detector(
                None, score_threshold=key, intra_op_num_threads=1, warmup=False
            )
            with self._lock:
                self._detectors[key] = detector
        return detector

    def predictions(
        self, image_bgr: np.ndarray, min_confidence: float
    ) -> list[dict[str, Any]]:
        """Run the bundled model; boxes as DeepStack sends them (``int()`` pixels)."""
        found = self._detector(min_confidence).detect(image_bgr)
        return [
            {
                "confidence": float(detection.confidence),
                "label": self.label_map.get(detection.class_name, detection.class_name),
                "x_min": int(detection.bbox["x"]),
                "y_min": int(detection.bbox["y"]),
                "x_max": int(detection.bbox["x"] + detection.bbox["width"]),
                "y_max": int(detection.bbox["y"] + detection.bbox["height"]),
            }
            for detection in found
        ]

    # ------------------------------------------------------------------ HTTP

    def _error(self, error: str) -> dict[str, Any]:
        document: dict[str, Any] = {"success": False, "error": error}
        if self.flavor == "deepstack":
            document["duration"] = 0
        return document

    def _success(
        self, predictions: list[dict[str, Any]], started: float, inference_ms: int
    ) -> dict[str, Any]:
        if self.flavor == "deepstack":
            return {"success": True, "predictions": predictions, "duration": 0}
        labels = [prediction["label"] for prediction in predictions]
        if len(labels) > 3:
            message = "Found " + ", ".join(labels[:3]) + "..."
        elif labels:
            message = "Found " + ", ".join(labels)
        else:
            message = "No objects found"
        process_ms = int((time.perf_counter() - started) * 1000)
        return {
            "success": True,
            "message": message,
            "count": len(predictions),
            "predictions": predictions,
            "inferenceMs": inference_ms,
            "processMs": process_ms,
            "moduleId": "FakeObjectDetection",
            "moduleName": "Object Detection (camera_alerts test server)",
            "command": "detect",
            "executionProvider": "CPU",
            "canUseGPU": False,
            "analysisRoundTripMs": process_ms,
            "code": 200,
        }

    def handle_post(
        self, path: str, content_type: str, body: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        """Answer one POST: ``(status, JSON document)``; ``None`` for a 404 page."""
        started = time.perf_counter()
        if urllib.parse.urlsplit(path).path.rstrip("/") != DETECTION_PATH:
            return 404, None
        fields, image = _parse_form(content_type, body)
        if self.api_key and fields.get("api_key") != self.api_key:
            return 401, self._error("Incorrect api key")
        if image is None:
            return 400, self._error("No valid image file found")
        raw_confidence = fields.get("min_confidence", "")
        min_confidence = DEFAULT_MIN_CONFIDENCE
        if raw_confidence:
            try:
                min_confidence = float(raw_confidence)
            except ValueError:
                return 400, self._error("Invalid value for min_confidence")
            if min_confidence > 1.0:
                return 400, self._error("min_confidence cannot be greater than 1")
        with self._lock:
            self.forms.append(fields)
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, error = failure
            return status, self._error(error)
        try:
            with Image.open(BytesIO(image)) as picture:
                rgb = np.asarray(picture.convert("RGB"))
        except (UnidentifiedImageError, OSError):
            return (400 if self.flavor == "deepstack" else 200), self._error(
                "invalid image file"
            )
        with self._lock:
            self.image_sizes.append((int(rgb.shape[1]), int(rgb.shape[0])))
            self.last_image = image
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        inference_started = time.perf_counter()
        predictions = self.predictions(bgr, min_confidence)
        inference_ms = int((time.perf_counter() - inference_started) * 1000)
        with self._lock:
            self.detections += 1
        return 200, self._success(predictions, started, inference_ms)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                owner.count_request()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, document = owner.handle_post(
                    self.path, self.headers.get("Content-Type", ""), body
                )
                if document is None:
                    self.send_body(status, b"404 page not found", "text/plain")
                else:
                    self.send_json(status, document)

            def do_GET(self) -> None:
                owner.count_request()
                self.send_body(404, b"404 page not found", "text/plain")

        return Handler


def _parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], bytes | None]:
    """The text fields and the ``image`` file of a ``multipart/form-data`` body."""
    if not content_type.lower().startswith("multipart/form-data"):
        return {}, None
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return {}, None
    fields: dict[str, str] = {}
    image: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if part.get_filename() is not None:
            if name == "image":
                image = payload
        else:
            fields[name] = payload.decode("utf-8", "replace")
    return fields, image
