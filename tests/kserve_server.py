"""A real Open Inference Protocol server for tests: KServe's model server on 127.0.0.1.

It runs from `.venv-kserve` (`scripts/setup-kserve`; its pins clash with Home
Assistant's) and hosts the bundled ONNX model with ONNX Runtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import pytest_socket

from custom_components.camera_alerts.inference import DEFAULT_MODEL_PATH

ROOT = Path(__file__).parents[1]
SERVER_PYTHON = ROOT / ".venv-kserve" / "bin" / "python"
LAUNCHER = ROOT / "scripts" / "kserve_onnx_server.py"
MODEL = "nanodet"
HOST = "127.0.0.1"


@contextmanager
def kserve_server(model_name: str = MODEL, port: int | None = None) -> Iterator[str]:
    """Start the server with the bundled model; yield its URL once the model is ready."""
    if not SERVER_PYTHON.exists():
        pytest.fail("no .venv-kserve: run scripts/setup-kserve (scripts/test does)")
    if port is None:
        port = free_port()
    process = subprocess.Popen(
        [
            str(SERVER_PYTHON),
            str(LAUNCHER),
            str(DEFAULT_MODEL_PATH),
            "--model_name",
            model_name,
            "--http_port",
            str(port),
            "--threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{HOST}:{port}"
    try:
        _wait_ready(url, model_name, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    """A port nothing listens on (chosen with the real socket class: sockets may be blocked)."""
    with pytest_socket._true_socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, model_name: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    # Wider-scoped fixtures run while pytest-socket blocks sockets: lift that
    # for the readiness poll only, then put back whatever was in force.
    blocked_socket = socket.socket
    pytest_socket.enable_socket()
    try:
        _poll(url, model_name, process, deadline)
    finally:
        socket.socket = blocked_socket  # type: ignore[misc]


def _poll(
    url: str, model_name: str, process: subprocess.Popen[bytes], deadline: float
) -> None:
    while True:
        if process.poll() is not None:
            pytest.fail(f"KServe model server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(
                f"{url}/v2/models/{model_name}/ready", timeout=2
            ):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                pytest.fail("KServe model server did not come up")
            time.sleep(0.2)
