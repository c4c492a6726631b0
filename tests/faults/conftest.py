"""Private brokers for the fault tests: a RabbitMQ node and a Mosquitto of their own.

Both run on free ports under the test's tmp_path, so a test can stop and restart
"its" broker without touching the shared RabbitMQ (5672) and Mosquitto (1883)
that parallel tests use.
"""

from __future__ import annotations

from collections.abc import Generator
import os
from pathlib import Path
import secrets
import shutil
import signal
import subprocess
import time

import pytest

from ..camera_sources.media import free_port, port_answers

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
# How long a broker may take to come up on a loaded 2-core machine; a guard, never asserted on.
START_GUARD = 90.0


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of tests that restart brokers, servers or cameras."""
    config.addinivalue_line("markers", "slow: a fault test that takes several seconds")


class RabbitNode:
    """A second RabbitMQ node of this machine's rabbitmq-server, private to one test.

    It has its own node name, ports, Mnesia and log folders, an empty plugin list
    (no management or prometheus listeners) and its own Erlang cookie (HOME is the
    temporary folder), so `rabbitmqctl -n <node>` reaches it and nothing else.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.node = f"ca_test_{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        base.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        (base / "rabbitmq-env.conf").write_text("", encoding="utf-8")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n",
            encoding="utf-8",
        )
        cookie = base / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper(), encoding="ascii")
        cookie.chmod(0o400)
        self.env = {
            **os.environ,
            "HOME": str(base),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(base / "plugins-expand"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(base / "feature_flags"),
            "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                "-kernel inet_dist_use_interface {127,0,0,1}"
            ),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    @property
    def url(self) -> str:
        """Return the AMQP URL of this node."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run `rabbitmqctl -n <node> ...` against this node only."""
        return subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            check=check,
            timeout=START_GUARD,
        )

    def start(self) -> None:
        """Boot the node and wait until its AMQP listener answers."""
        log = (self.base / "server.out").open("ab")
        self._proc = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.env,
            cwd=self.base,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_GUARD
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited: {self.log_tail()}")
            if self.ctl("await_startup", "--timeout", "5", check=False).returncode == 0:
                self.wait_listening(True)
                return
            time.sleep(0.5)
        raise RuntimeError(f"RabbitMQ node {self.node} did not start: {self.log_tail()}")

    def stop_app(self) -> None:
        """Stop the broker application: every client connection is closed."""
        self.ctl("stop_app")
        self.wait_listening(False)

    def start_app(self) -> None:
        """Start the broker application again (durable queues come back)."""
        self.ctl("start_app")
        self.ctl("await_startup", "--timeout", "60")
        self.wait_listening(True)

    def wait_listening(self, listening: bool) -> None:
        """Wait until the AMQP port answers (or stops answering)."""
        deadline = time.monotonic() + START_GUARD
        while port_answers(self.port) is not listening:
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {self.port} listening is not {listening}")
            time.sleep(0.1)

    def shutdown(self) -> None:
        """Stop the node and reap its process group."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            self.ctl("shutdown", check=False)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def log_tail(self) -> str:
        """Return the end of the node's console output (for failures)."""
        out = self.base / "server.out"
        return out.read_text(errors="replace")[-2000:] if out.exists() else ""


@pytest.fixture
def rabbit_node(tmp_path: Path) -> Generator[RabbitNode]:
    """A RabbitMQ node of this test only; it may be stopped and started at will."""
    if shutil.which("rabbitmq-server") is None or not RABBITMQ_BIN.is_dir():
        pytest.fail("rabbitmq-server is not installed (scripts/test installs it)")
    node = RabbitNode(tmp_path / "rabbit")
    node.start()
    yield node
    node.shutdown()


class Mosquitto:
    """A Mosquitto of one test on a free port; `stop()` and `start()` restart it.

    With `persistence=True` its database lives under the test's folder and is
    written on a clean stop (SIGTERM), so persistent sessions, their queued QoS 1
    messages and retained messages survive a restart, as on a production broker.
    """

    def __init__(self, base: Path, *, persistence: bool) -> None:
        self.base = base
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        base.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if persistence else 'false'}",
            "log_dest stdout",
            # Started as root it would switch to the mosquitto user and could not
            # write its database under the test folder.
            "user root",
        ]
        if persistence:
            lines += [f"persistence_location {base}/", "autosave_interval 0"]
        self.conf = base / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")

    @property
    def running(self) -> bool:
        """Return True while the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the broker (not daemonised) and wait until it accepts connections."""
        log = (self.base / "mosquitto.out").open("ab")
        self._proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_GUARD
        while not port_answers(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto on {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the broker cleanly (it saves its database when persistent)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Generator[type]:
    """Return a maker of private brokers; every one is stopped afterwards."""
    brokers: list[Mosquitto] = []

    def make(*, persistence: bool) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"mosquitto{len(brokers)}", persistence=persistence)
        brokers.append(broker)
        broker.start()
        return broker

    yield make  # type: ignore[misc]
    for broker in brokers:
        broker.stop()
