"""The test media helpers produce what other tests and the benchmarks rely on."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess

import numpy as np
import pytest

from .media import (
    background,
    lighting_change,
    make_clip,
    person_enters,
    person_positions,
    read_clip,
    static_scene,
)

SIZE = (320, 180)


def ffprobe(path: Path) -> dict[str, object]:
    result = subprocess.run(
        ["/usr/bin/ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=codec_name,width,height,avg_frame_rate,nb_read_frames,pix_fmt",
         "-of", "json", str(path)],
        capture_output=True, check=True, text=True, timeout=30,
    )  # fmt: skip
    streams: list[dict[str, object]] = json.loads(result.stdout)["streams"]
    return streams[0]


def test_h264_clip_for_the_benchmark(tmp_path: Path) -> None:
    path = make_clip(
        tmp_path / "hd.mp4", "person", fps=5.0, size=(1280, 720), n_frames=10
    )

    info = ffprobe(path)

    assert info["codec_name"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (1280, 720)
    assert info["avg_frame_rate"] == "5/1"
    assert info["nb_read_frames"] == "10"


def test_mp4v_clip_through_opencv(tmp_path: Path) -> None:
    path = make_clip(
        tmp_path / "scene.mp4", static_scene(SIZE, 6), fps=10.0, size=SIZE, codec="mp4v"
    )

    info = ffprobe(path)

    assert info["codec_name"] == "mpeg4"
    assert info["nb_read_frames"] == "6"


def test_frames_of_another_size_are_resized(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "fit.mp4", static_scene((64, 48), 3), size=SIZE)

    frames = read_clip(path)

    assert len(frames) == 3
    assert frames[0].shape == (SIZE[1], SIZE[0], 3)


def test_unknown_codec_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="codec"):
        make_clip(tmp_path / "x.mp4", "static", codec="vp9")


def test_static_scene_changes_only_by_noise() -> None:
    first, second = (frame.astype(np.int16) for frame in static_scene(SIZE, 2))

    diff = np.abs(first - second).mean()

    assert 0.0 < diff < 3.0


def test_person_enters_stands_and_leaves() -> None:
    n_frames = 30
    still = background(SIZE).astype(np.int16)
    boxes = person_positions(SIZE, n_frames)
    frames = list(person_enters(SIZE, n_frames))

    assert len(frames) == n_frames
    assert boxes[10] == boxes[19]  # standing in the middle third
    assert boxes[-1] is None  # gone at the end
    x, y, w, h = boxes[15]
    assert x > 0
    assert x + w < SIZE[0]
    diff = np.abs(frames[15].astype(np.int16) - still).mean(axis=2)
    inside = diff[y : y + h, x : x + w].mean()
    outside = np.delete(diff, np.s_[x : x + w], axis=1).mean()
    assert inside > 20.0
    assert outside < 3.0
    assert np.abs(frames[-1].astype(np.int16) - still).mean() < 3.0


def test_lighting_change_dims_and_recovers() -> None:
    frames = list(lighting_change(SIZE, 20))
    levels = [float(frame.mean()) for frame in frames]

    assert levels[10] < 0.5 * levels[0]
    assert levels[-1] > 0.85 * levels[0]
