"""The pipeline package in a Python where `cv2` cannot be imported at all (musl).

Flags that pretend OpenCV is missing would not catch a stray `cv2.` left on
a path that runs anyway, so this runs in a fresh interpreter whose import
system refuses `cv2`: a real H.264 clip goes through the PyAV source, the
numpy motion gate and the Pillow JPEG encoder.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest

from tests.camera_sources.media import make_clip, person_positions

ROOT = Path(__file__).resolve().parents[2]
SIZE = (320, 180)
N_FRAMES = 30

SCRIPT = """
import importlib.abc, json, sys

class NoOpenCv(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname == "cv2" or fullname.startswith("cv2."):
            raise ModuleNotFoundError("No module named 'cv2'", name="cv2")
        return None

sys.meta_path.insert(0, NoOpenCv())

from io import BytesIO
from PIL import Image
from custom_components.camera_alerts.pipeline import motion, processor, source

slot = source.FrameSlot()
stream = source.StreamSource(sys.argv[1], slot, name="clip", loop_files=False)
gate = motion.MotionGate()
stream.start()
moving, last, latest = {}, 0, None
while True:
    frame = slot.get_newer(last, 10.0)
    if frame is None:
        break
    last = frame.seq
    latest = frame.image
    boxes = gate.update(frame.image)
    moving[last] = [box.as_tuple() for box in boxes]
    if last == %(n_frames)d:
        break
stream.stop()
probe = source.probe_source(sys.argv[1])
jpeg = processor.encode_jpeg(latest)
with Image.open(BytesIO(jpeg)) as image:
    jpeg_size = list(image.size)
print(json.dumps({
    "cv2_loaded": "cv2" in sys.modules,
    "have": [source.HAVE_OPENCV, motion.HAVE_OPENCV, processor.HAVE_OPENCV],
    "capture": stream.backend,
    "motion": gate.backend,
    "frames": stream.frames_read,
    "shape": list(latest.shape),
    "moving": moving,
    "probe": [probe.width, probe.height, probe.fps],
    "jpeg_size": jpeg_size,
}))
"""


@pytest.fixture(scope="module")
def person_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("no_opencv") / "person.mp4"
    return make_clip(path, "person", size=SIZE, n_frames=N_FRAMES)


def test_pipeline_runs_without_opencv(person_clip: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT % {"n_frames": N_FRAMES}, str(person_clip)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["cv2_loaded"] is False
    assert report["have"] == [False, False, False]
    assert report["capture"] == "pyav"
    assert report["motion"] == "numpy"
    assert report["frames"] == N_FRAMES
    assert report["shape"] == [SIZE[1], SIZE[0], 3]
    assert report["probe"] == [SIZE[0], SIZE[1], 10.0]
    assert report["jpeg_size"] == list(SIZE)

    # Frame number (from 1) -> boxes; a frame the gate was too slow for is missing.
    moving = {int(seq): boxes for seq, boxes in report["moving"].items()}
    assert len(moving) >= N_FRAMES // 2
    positions = person_positions(SIZE, N_FRAMES)
    third = N_FRAMES // 3
    # While the person walks (in during the first third, out during the last;
    # they stand still in between), the motion boxes reach their leading side.
    checked = 0
    for index in [*range(1, third), *range(2 * third, N_FRAMES)]:
        person = positions[index]
        boxes = moving.get(index + 1)
        if person is None or boxes is None or index + 1 == min(moving):
            continue
        assert boxes, index
        x, _, w, _ = person
        right = max(bx + bw for bx, _, bw, _ in boxes)
        assert right >= min(x + w, SIZE[0]) - 8, (index, person, boxes)
        checked += 1
    assert checked >= N_FRAMES // 3
