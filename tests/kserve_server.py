"""A real Open Inference Protocol server: KServe's model server on 127.0.0.1.

It runs from `.venv-kserve` (`scripts/setup-kserve`; KServe's pins clash with
Home Assistant's) through `scripts/kserve_onnx_server.py`, hosting an ONNX model
with ONNX Runtime, and is polled on `/v2/models/{name}/ready` until it answers.
Used by the remote-backend tests (`kserve_server()`) and by `benchmarks/`:

    with KServeServer(model_path, "nanodet", threads=2) as server:
        load_remote_detector(server.url, "nanodet")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Self
import urllib.error
import urllib.request

from .camera_sources.media import HOST, free_port, real_socket

ROOT = Path(__file__).resolve().parents[1]
MODEL = "nanodet"
SERVER_PYTHON = ROOT / ".venv-kserve" / "bin" / "python"
LAUNCHER = ROOT / "scripts" / "kserve_onnx_server.py"


def kserve_version() -> str:
    """KServe's version in `.venv-kserve` (it is not importable here)."""
    try:
        return subprocess.run(
            [
                str(SERVER_PYTHON),
                "-c",
                "import importlib.metadata as m; print(m.version('kserve'), m.version('onnxruntime'))",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class KServeServer:
    """Start the server (on a free port unless given one); stop it on exit."""

    def __init__(
        self,
        model_path: Path,
        model_name: str,
        *,
        threads: int = 1,
        start_timeout: float = 90.0,
        port: int | None = None,
    ) -> None:
        self.model_path = model_path
        self.model_name = model_name
        self.threads = threads
        self.start_timeout = start_timeout
        self.port = port or 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  # closed in __exit__

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        if not SERVER_PYTHON.exists():
            raise RuntimeError(
                "no .venv-kserve: run scripts/setup-kserve first (scripts/test does)"
            )
        self.port = self.port or free_port()
        self.process = subprocess.Popen(
            [
                str(SERVER_PYTHON),
                str(LAUNCHER),
                str(self.model_path),
                "--model_name",
                self.model_name,
                "--http_port",
                str(self.port),
                "--threads",
                str(self.threads),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_timeout
        ready = f"{self.url}/v2/models/{self.model_name}/ready"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"KServe model server exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(ready, timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"KServe model server did not come up:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.2)

    def log_tail(self, lines: int = 20) -> str:
        self._log.seek(0)
        return "\n".join(
            self._log.read().decode("utf-8", "replace").splitlines()[-lines:]
        )

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / _CLOCK_TICKS

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

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
        self._log.close()


def _clock_ticks() -> int:
    import os

    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


_CLOCK_TICKS = _clock_ticks()


@contextmanager
def kserve_server(model_name: str = MODEL, port: int | None = None) -> Iterator[str]:
    """Serve the bundled model for a test; yield the URL once the model is ready."""
    import pytest

    from custom_components.camera_alerts.inference import DEFAULT_MODEL_PATH

    if not SERVER_PYTHON.exists():
        pytest.fail("no .venv-kserve: run scripts/setup-kserve (scripts/test does)")
    server = KServeServer(DEFAULT_MODEL_PATH, model_name, port=port)
    # Fixtures of wider scope run while pytest-socket blocks sockets: lift that
    # for the start-up check only, then put back whatever was in force.
    blocked_socket = socket.socket
    socket.socket = real_socket  # type: ignore[misc]
    try:
        server.start()
    except RuntimeError as err:
        pytest.fail(str(err))
    finally:
        socket.socket = blocked_socket  # type: ignore[misc]
    try:
        yield server.url
    finally:
        server.__exit__(None, None, None)
