"""Prepare the development instance's demo: a looping clip and a configured camera.

Run by scripts/develop with the project's venv. The clip is made from the photos
shipped with the tests (a person walks into a still scene); the Camera Alerts hub
entry with a "Demo" camera on that clip is written only into a config directory
that has no config entries yet, using Home Assistant's own serialisation.
"""

from __future__ import annotations

from itertools import chain
import json
from pathlib import Path
import sys
from types import MappingProxyType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant.config_entries import (  # noqa: E402
    STORAGE_KEY,
    STORAGE_VERSION,
    STORAGE_VERSION_MINOR,
    ConfigEntry,
    ConfigSubentryData,
)

from tests.camera_sources.media import (  # noqa: E402
    make_clip,
    person_enters,
    static_scene,
)

SIZE = (1280, 720)
FPS = 10.0


def make_demo_clip(path: Path) -> None:
    """Write a clip where a person walks in, stands and leaves, then the scene stays empty."""
    frames = chain(
        static_scene(SIZE, int(FPS * 4), seed=1),
        person_enters(SIZE, int(FPS * 9), seed=2),
        static_scene(SIZE, int(FPS * 8), seed=3),
    )
    make_clip(path, frames, fps=FPS, size=SIZE)


def seed_entry(config_dir: Path, clip: Path) -> bool:
    """Write the hub with a demo camera when the instance has no config entries yet."""
    storage = config_dir / ".storage" / STORAGE_KEY
    if storage.exists():
        return False
    entry = ConfigEntry(
        data={"backend": "auto", "model_path": "", "inference_threads": 2},
        discovery_keys=MappingProxyType({}),
        domain="camera_alerts",
        minor_version=1,
        options={},
        source="user",
        subentries_data=[
            ConfigSubentryData(
                data={
                    "name": "Demo",
                    "stream_url": str(clip),
                    "camera_entity": "",
                    "fps": 5.0,
                    "labels": ["person", "dog", "bicycle", "car"],
                    "min_score": 0.5,
                    "label_scores": "",
                    "zones": {},
                    "motion_mask": [],
                    "frigate_camera": "",
                },
                subentry_type="camera",
                title="Demo",
                unique_id="demo",
            )
        ],
        title="Camera Alerts",
        unique_id=None,
        version=1,
    )
    storage.parent.mkdir(parents=True, exist_ok=True)
    storage.write_text(
        json.dumps(
            {
                "version": STORAGE_VERSION,
                "minor_version": STORAGE_VERSION_MINOR,
                "key": STORAGE_KEY,
                "data": {"entries": [entry.as_dict()]},
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return True


def main() -> None:
    """Create the clip and the entry where they are missing."""
    config_dir = Path(sys.argv[1]).resolve()
    clip = config_dir / "demo" / "demo.mp4"
    if not clip.exists():
        clip.parent.mkdir(parents=True, exist_ok=True)
        make_demo_clip(clip)
        print(f"demo clip: {clip}")
    if seed_entry(config_dir, clip):
        print("demo: Camera Alerts with camera 'Demo' configured")


if __name__ == "__main__":
    main()
