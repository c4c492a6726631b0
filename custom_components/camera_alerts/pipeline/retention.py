"""Snapshot retention: each camera's folder stays within a count and an age, across restarts.

`SnapshotStore` owns the JPEGs in one camera's folder (`*.jpg`; nothing else
there is touched). It learns what earlier runs left from the folder itself, so
the bound holds across restarts, reloads and `restart` calls, not only within
one run. Files can be protected while something still refers to them (a
track's best snapshot, a review someone keeps): pruning skips them until they
are released. Blocking file I/O: call it from a worker thread or an executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import logging
import os
from pathlib import Path
import shutil
import threading
import time
from typing import Final

_LOGGER = logging.getLogger(__name__)

SNAPSHOT_SUFFIX: Final = ".jpg"
DEFAULT_MAX_SNAPSHOTS: Final = 100
DEFAULT_MAX_AGE_S: Final = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How many snapshots a camera keeps, and for how long."""

    max_count: int = DEFAULT_MAX_SNAPSHOTS
    max_age_s: float = DEFAULT_MAX_AGE_S

    def __post_init__(self) -> None:
        """Refuse bounds that would keep nothing or everything."""
        if self.max_count < 1:
            raise ValueError("max_count must be at least 1")
        if self.max_age_s <= 0:
            raise ValueError("max_age_s must be positive")


class SnapshotStore:
    """The snapshots of one camera: saved, bounded and pruned in one place."""

    def __init__(
        self,
        directory: Path,
        policy: RetentionPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Prepare the store; the folder is created with the first snapshot."""
        self.directory = directory
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._protected: set[Path] = set()

    def save(self, name: str, data: bytes) -> Path:
        """Write `name` (a file name ending in .jpg), then prune; raises OSError."""
        if Path(name).name != name or not name.endswith(SNAPSHOT_SUFFIX):
            raise ValueError(f"Not a snapshot file name: {name!r}")
        path = self.directory / name
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            self._prune_locked(keep=path)
        return path

    def protect(self, path: Path) -> None:
        """Keep `path` whatever its age or rank until `release`."""
        with self._lock:
            self._protected.add(path)

    def release(self, path: Path) -> None:
        """Let `path` be pruned again like any other snapshot."""
        with self._lock:
            self._protected.discard(path)

    def prune(self) -> list[Path]:
        """Delete snapshots beyond the count or older than the age; return them."""
        with self._lock:
            return self._prune_locked()

    def snapshots(self) -> list[Path]:
        """Return this camera's snapshots, oldest first."""
        return [path for _, path in self._scan()]

    def _scan(self) -> list[tuple[float, Path]]:
        found: list[tuple[float, Path]] = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return found
        for entry in entries:
            if not entry.name.endswith(SNAPSHOT_SUFFIX):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                    found.append((mtime, Path(entry.path)))
            except FileNotFoundError:
                continue  # removed meanwhile
        found.sort()
        return found

    def _prune_locked(self, keep: Path | None = None) -> list[Path]:
        oldest_kept = self._clock() - self.policy.max_age_s
        found = self._scan()
        # Protected files and the one just saved count towards the bound but stay.
        excess = len(found) - self.policy.max_count
        candidates = [
            (mtime, path)
            for mtime, path in found
            if path not in self._protected and path != keep
        ]
        doomed = [
            path
            for index, (mtime, path) in enumerate(candidates)
            if index < excess or mtime < oldest_kept
        ]
        for path in doomed:
            try:
                path.unlink(missing_ok=True)
            except OSError as err:
                _LOGGER.warning("Cannot delete the snapshot %s: %s", path, err)
        return doomed


def remove_snapshot_folder(directory: Path) -> None:
    """Delete a removed camera's folder of snapshots (blocking)."""
    if not directory.is_dir():
        return
    try:
        shutil.rmtree(directory)
    except OSError as err:
        _LOGGER.warning("Cannot delete the snapshots in %s: %s", directory, err)
