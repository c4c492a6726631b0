"""Log a recurring problem once per interval instead of once per occurrence."""

from __future__ import annotations

from collections.abc import Callable, Hashable
import logging
import time
from typing import Any


class RateLimitedLog:
    """At most one record per key per `interval` seconds; the rest are counted.

    The next record for a key says how many were suppressed, so the log stays
    short on a noisy line without hiding how bad it was.
    """

    __slots__ = ("_clock", "_interval", "_last", "_logger", "_suppressed")

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wrap `logger`; `clock` is injectable so tests need no sleeping."""
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def log(self, key: Hashable, level: int, msg: str, *args: Any) -> bool:
        """Log unless `key` was logged less than `interval` ago; True when logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            msg += " (%d similar messages suppressed)"
            args = (*args, suppressed)
        self._logger.log(level, msg, *args)
        return True

    def reset(self, key: Hashable) -> None:
        """Allow the next record for `key` right away (e.g. after a recovery)."""
        self._last.pop(key, None)
        self._suppressed.pop(key, None)
