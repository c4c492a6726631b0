"""Serve an H.264 MP4 over RTSP at rtsp://127.0.0.1:<port>/cam, looping forever.

Runs under the system Python (GStreamer's gi bindings), not the project venv:

    /usr/bin/python3 tests/camera_sources/rtsp_server.py --port 8554 --file clip.mp4

The clip is demuxed once into H.264 access units; every client gets its own
pipeline whose appsrc replays them in a loop with timestamps that keep growing,
so a stream never ends and each new client starts on a key frame.
Prints "ready" on stdout once the server listens.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtspServer  # noqa: E402

_CAPS = "video/x-h264,stream-format=byte-stream,alignment=au"


class AccessUnit:
    """One encoded frame with its original timing (nanoseconds)."""

    def __init__(
        self, data: bytes, pts: int, dts: int, duration: int, key: bool
    ) -> None:
        self.data = data
        self.pts = pts
        self.dts = dts
        self.duration = duration
        self.key = key


def demux(path: str) -> tuple[list[AccessUnit], str, int]:
    """Return the clip's access units (SPS/PPS repeated in band), caps and length."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 '
        f"! {_CAPS} ! appsink name=sink sync=false emit-signals=false"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    units: list[AccessUnit] = []
    caps = ""
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        if not caps:
            caps = sample.get_caps().to_string()
        buffer = sample.get_buffer()
        ok, info = buffer.map(Gst.MapFlags.READ)
        if not ok:
            continue
        units.append(
            AccessUnit(
                bytes(info.data),
                buffer.pts,
                buffer.dts if buffer.dts != Gst.CLOCK_TIME_NONE else buffer.pts,
                buffer.duration,
                not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT),
            )
        )
        buffer.unmap(info)
    pipeline.set_state(Gst.State.NULL)
    if not units:
        raise SystemExit(f"no H.264 frames in {path}")
    last = units[-1]
    step = last.duration if last.duration != Gst.CLOCK_TIME_NONE else Gst.SECOND // 25
    return units, caps, last.pts + step


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    """A factory whose media replay the access units from an appsrc."""

    def __init__(self, units: list[AccessUnit], caps: str, length: int) -> None:
        super().__init__()
        self._units = units
        self._caps = caps
        self._length = length
        self.set_shared(False)
        self.set_launch(
            "( appsrc name=src is-live=true format=time do-timestamp=false "
            "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        self.connect("media-configure", self._on_configure)

    def _on_configure(self, _factory: object, media: GstRtspServer.RTSPMedia) -> None:
        src = media.get_element().get_by_name_recurse_up("src")
        src.set_property("caps", Gst.Caps.from_string(self._caps))
        src.set_property("max-bytes", 2_000_000)
        state = {"index": 0, "offset": 0}
        first_pts = self._units[0].pts
        first_dts = self._units[0].dts

        def need_data(appsrc: GstApp.AppSrc, _length: int) -> None:
            unit = self._units[state["index"]]
            buffer = Gst.Buffer.new_wrapped(unit.data)
            buffer.pts = unit.pts - first_pts + state["offset"]
            buffer.dts = max(0, unit.dts - first_dts + state["offset"])
            buffer.duration = unit.duration
            if not unit.key:
                buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
            state["index"] += 1
            if state["index"] == len(self._units):
                state["index"] = 0
                state["offset"] += self._length - first_pts
            appsrc.emit("push-buffer", buffer)

        src.connect("need-data", need_data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--mount", default="/cam")
    args = parser.parse_args()

    Gst.init(None)
    units, caps, length = demux(args.file)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(
        args.mount, LoopingFactory(units, caps, length)
    )
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
