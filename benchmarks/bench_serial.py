"""Serial path throughput: pty -> SerialLink -> parse_line -> BoardState.

Run: .venv/bin/python benchmarks/bench_serial.py [--lines 20000] [--rate 1000]

Two runs over a real pseudo-terminal, the "board" being a writer thread on
the master side:
1. flood: write N JSON lines as fast as the pty accepts them; every line must
   be accounted for (lines_total == N, no errors). Gives lines/s end to end.
2. paced: write at a fixed rate (default 1,000 lines/s) for a few seconds and
   report the event-loop thread's CPU share and the backlog left when the
   writer finishes, i.e. whether the reader keeps up.

CPU is measured with `time.thread_time()` inside the event-loop thread, so
the writer thread (the fake board) is not billed to the integration.
The Home Assistant side (state writes) is not part of these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
from pathlib import Path
import platform
import sys
import threading
import time
import tty

_PACKAGE_DIR = (
    Path(__file__).resolve().parents[1]
    / "custom_components"
    / "camera_alerts"
    / "serial"
)


def _load_serial_package() -> None:
    """Import the serial package on its own, without the integration (and HA) around it.

    It is registered as `camera_alerts_serial` (never as `serial`, which is pyserial).
    """
    spec = importlib.util.spec_from_file_location(
        "camera_alerts_serial",
        _PACKAGE_DIR / "__init__.py",
        submodule_search_locations=[str(_PACKAGE_DIR)],
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {_PACKAGE_DIR}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


_load_serial_package()

from camera_alerts_serial.monitor import SerialMonitor  # noqa: E402
from camera_alerts_serial.protocol import parse_line  # noqa: E402


def line_for(seq: int) -> bytes:
    return (
        f'{{"temperature": {20 + (seq % 100) / 10:.2f}, "humidity": {40 + seq % 20},'
        f' "door": "{"open" if seq % 2 else "closed"}", "motion": {"true" if seq % 3 else "false"},'
        f' "seq": {seq}}}\r\n'
    ).encode()


def machine() -> str:
    model = platform.processor() or "unknown cpu"
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}; {os.cpu_count()} logical cpus; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}"
    )


def writer(master_fd: int, lines: list[bytes], rate: float | None) -> None:
    """Play the board: blocking writes, optionally paced to `rate` lines/s."""
    start = time.perf_counter()
    for index, line in enumerate(lines):
        if rate is not None:
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        view = memoryview(line)
        while view:
            view = view[os.write(master_fd, view) :]


async def run(count: int, rate: float | None) -> dict[str, float]:
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    monitor = SerialMonitor(os.ttyname(slave_fd), 921600, name="bench")
    state = monitor.state
    base_lines = 1
    connected = asyncio.Event()
    warmed = asyncio.Event()
    done = asyncio.Event()

    def on_update(_changed: frozenset[str]) -> None:
        if state.connected:
            connected.set()
        if state.lines_total >= base_lines:
            warmed.set()
        if state.lines_total - base_lines >= count:
            done.set()

    state.add_update_listener(on_update)
    await monitor.async_start()
    await asyncio.wait_for(connected.wait(), timeout=10)
    # Warm the key set so the measured part is steady-state updates.
    os.write(master_fd, line_for(0))
    await asyncio.wait_for(warmed.wait(), timeout=10)
    lines = [line_for(seq) for seq in range(1, count + 1)]
    thread = threading.Thread(target=writer, args=(master_fd, lines, rate))
    cpu_start = time.thread_time()
    wall_start = time.perf_counter()
    thread.start()
    await asyncio.get_running_loop().run_in_executor(None, thread.join)
    writer_done = time.perf_counter()
    backlog = count - (state.lines_total - base_lines)
    await asyncio.wait_for(done.wait(), timeout=120)
    wall = time.perf_counter() - wall_start
    cpu = time.thread_time() - cpu_start
    handled = state.lines_total - base_lines
    errors = state.errors_total
    await monitor.async_stop()
    os.close(master_fd)
    os.close(slave_fd)
    return {
        "lines": float(handled),
        "errors": float(errors),
        "wall_s": wall,
        "writer_s": writer_done - wall_start,
        "backlog_at_writer_end": float(backlog),
        "lines_per_s": handled / wall,
        "loop_cpu_s": cpu,
        "cpu_ms_per_1000": cpu / handled * 1000 * 1000,
        "loop_cpu_share": cpu / wall,
    }


def parse_only(count: int) -> float:
    lines = [line_for(seq).rstrip() for seq in range(count)]
    start = time.process_time()
    for line in lines:
        parse_line(line)
    return (time.process_time() - start) / count * 1000 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1_000.0)
    parser.add_argument("--paced-seconds", type=float, default=5.0)
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"homeassistant imported: {'homeassistant' in sys.modules}")
    print(f"line example ({len(line_for(1))} bytes): {line_for(1).decode().strip()}")
    print(f"parse_line alone: {parse_only(args.lines):.1f} ms CPU per 1,000 lines")

    flood = asyncio.run(run(args.lines, None))
    if flood["lines"] != args.lines or flood["errors"]:
        raise SystemExit(f"lines lost or rejected: {flood}")
    print(
        f"flood: {int(flood['lines'])} lines in {flood['wall_s']:.3f} s = "
        f"{flood['lines_per_s']:,.0f} lines/s end to end; "
        f"loop CPU {flood['loop_cpu_s']:.3f} s = "
        f"{flood['cpu_ms_per_1000']:.1f} ms per 1,000 lines; errors {int(flood['errors'])}"
    )

    paced_count = int(args.rate * args.paced_seconds)
    paced = asyncio.run(run(paced_count, args.rate))
    if paced["lines"] != paced_count or paced["errors"]:
        raise SystemExit(f"lines lost or rejected: {paced}")
    print(
        f"paced at {args.rate:,.0f} lines/s: {int(paced['lines'])} lines in "
        f"{paced['wall_s']:.3f} s (writer {paced['writer_s']:.3f} s); "
        f"backlog when the writer finished: {int(paced['backlog_at_writer_end'])} lines; "
        f"loop CPU {paced['loop_cpu_s']:.3f} s = {paced['loop_cpu_share'] * 100:.1f} % "
        f"of one core = {paced['cpu_ms_per_1000']:.1f} ms per 1,000 lines"
    )


if __name__ == "__main__":
    main()
