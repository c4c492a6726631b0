"""Snapshot retention: a count and an age per camera folder, across store instances."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from custom_components.camera_alerts.pipeline.retention import (
    RetentionPolicy,
    SnapshotStore,
    remove_snapshot_folder,
)

NOW = 1_750_000_000.0
DAY = 24 * 3600.0


def plant(directory: Path, name: str, age_s: float) -> Path:
    """A snapshot an earlier run left, `age_s` old."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(b"\xff\xd8old\xff\xd9")
    os.utime(path, (NOW - age_s, NOW - age_s))
    return path


def store(directory: Path, count: int = 3, age_s: float = 7 * DAY) -> SnapshotStore:
    return SnapshotStore(directory, RetentionPolicy(count, age_s), clock=lambda: NOW)


def names(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def test_the_count_holds_across_restarts(tmp_path: Path) -> None:
    """A new store (a restart) sees what the last one left and keeps the newest."""
    for index in range(5):
        plant(tmp_path, f"old{index}.jpg", age_s=3600 - index)
    first = store(tmp_path)
    saved = first.save("new.jpg", b"\xff\xd8new\xff\xd9")
    assert saved == tmp_path / "new.jpg"
    assert names(first.snapshots()) == ["old3.jpg", "old4.jpg", "new.jpg"]

    again = store(tmp_path)  # the next run
    again.save("newer.jpg", b"\xff\xd8")
    assert names(again.snapshots()) == ["old4.jpg", "new.jpg", "newer.jpg"]


def test_old_snapshots_go_even_below_the_count(tmp_path: Path) -> None:
    plant(tmp_path, "week_old.jpg", age_s=8 * DAY)
    plant(tmp_path, "fresh.jpg", age_s=60)
    (tmp_path / "notes.txt").write_text("not ours")
    removed = store(tmp_path, count=100).prune()
    assert names(removed) == ["week_old.jpg"]
    assert names(store(tmp_path).snapshots()) == ["fresh.jpg"]
    assert (tmp_path / "notes.txt").exists()


def test_protected_snapshots_stay_until_released(tmp_path: Path) -> None:
    """A snapshot something still refers to is kept; it counts towards the bound."""
    keep = plant(tmp_path, "kept.jpg", age_s=30 * DAY)
    plant(tmp_path, "a.jpg", age_s=20)
    plant(tmp_path, "b.jpg", age_s=10)
    snapshots = store(tmp_path, count=2)
    snapshots.protect(keep)
    snapshots.save("c.jpg", b"\xff\xd8")
    assert names(snapshots.snapshots()) == ["kept.jpg", "c.jpg"]
    snapshots.release(keep)
    assert names(snapshots.prune()) == ["kept.jpg"]


def test_a_missing_folder_is_empty_and_is_made_on_save(tmp_path: Path) -> None:
    snapshots = store(tmp_path / "gate")
    assert snapshots.prune() == []
    assert snapshots.snapshots() == []
    snapshots.save("x.jpg", b"\xff\xd8")
    assert (tmp_path / "gate" / "x.jpg").is_file()


@pytest.mark.parametrize("name", ["../escape.jpg", "sub/x.jpg", "x.png"])
def test_only_snapshot_names_are_saved(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="Not a snapshot"):
        store(tmp_path).save(name, b"")


def test_policy_bounds_must_keep_something() -> None:
    with pytest.raises(ValueError, match="max_count"):
        RetentionPolicy(0, DAY)
    with pytest.raises(ValueError, match="max_age_s"):
        RetentionPolicy(1, 0)


def test_remove_snapshot_folder(tmp_path: Path) -> None:
    folder = tmp_path / "gate"
    plant(folder, "a.jpg", age_s=1)
    remove_snapshot_folder(folder)
    assert not folder.exists()
    remove_snapshot_folder(folder)  # already gone: nothing to do
