"""The sink contract: what every destination of detection events provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
import re
from typing import Any, ClassVar
from urllib.parse import unquote

from ..models import DetectionEvent

REDACTED = "**REDACTED**"

# user:password@ in any URL-like text (amqp://, http://, ...). The password
# runs to the last `@` before the next blank: passwords often hold an
# unescaped `@` (`amqp://user:p@ss@host`), and hiding too much is harmless.
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):\S*@"
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return text with URL passwords and the given secret values removed."""
    text = _URL_CREDENTIALS.sub(rf"\g<scheme>\g<user>:{REDACTED}@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def url_secrets(url: str) -> list[str]:
    """Return the password of `url` as typed and decoded (both may be echoed)."""
    _, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return []
    user_info = rest.rpartition("@")[0]
    if ":" not in user_info:
        return []
    password = user_info.partition(":")[2]
    return [secret for secret in {password, unquote(password)} if secret]


@dataclass(slots=True)
class SinkState:
    """Health and counters of one sink, shown by `get_status` and diagnostic sensors."""

    connected: bool = False
    sent: int = 0
    failed: int = 0
    queued: int = 0
    dropped: int = 0
    last_error: str | None = None
    last_error_time: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable snapshot."""
        return {
            "connected": self.connected,
            "sent": self.sent,
            "failed": self.failed,
            "queued": self.queued,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "last_error_time": (
                self.last_error_time.isoformat() if self.last_error_time else None
            ),
        }


class Sink(ABC):
    """A destination for detection events.

    The dispatcher owns the queue in front of a sink and calls `async_handle`
    from one worker task, so implementations see events one at a time and in order.
    """

    def __init__(self, name: str) -> None:
        """Initialise the sink."""
        self.name = name
        self.state = SinkState()
        self._on_change: Callable[[], None] | None = None
        # Values that must never show up in last_error (passwords, tokens).
        self._secrets: list[str] = []

    @abstractmethod
    async def async_start(self) -> None:
        """Prepare the sink; must not wait long for an unreachable service."""

    @abstractmethod
    async def async_stop(self) -> None:
        """Release every connection and task the sink holds."""

    @abstractmethod
    async def async_handle(self, event: DetectionEvent) -> None:
        """Deliver one event; count the outcome in `state`."""

    def status(self) -> dict[str, Any]:
        """Return the status snapshot; sinks add their own keys."""
        return self.state.as_dict()

    def set_change_listener(self, listener: Callable[[], None] | None) -> None:
        """Register the single callback told about state changes (the dispatcher)."""
        self._on_change = listener

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def _set_connected(self, connected: bool) -> None:
        if self.state.connected != connected:
            self.state.connected = connected
            self._changed()

    def _record_success(self, count: int = 1) -> None:
        self.state.sent += count
        self.state.connected = True
        self._changed()

    def _record_error(self, message: str, *, failed: int = 1) -> None:
        """Count a failure and keep its message without secrets."""
        self.state.failed += failed
        self.state.last_error = redact(message, self._secrets)
        self.state.last_error_time = datetime.now(UTC)
        self._changed()


class BufferedSink(Sink):
    """A sink that keeps its own durable queue instead of the dispatcher's.

    The dispatcher hands events over synchronously with `accept`, so nothing is
    dropped by the dispatcher's bounded queue; the sink decides its own policy.
    """

    owns_queue: ClassVar[bool] = True

    @abstractmethod
    def accept(self, event: DetectionEvent) -> None:
        """Take the event into the sink's own queue; must not block."""

    async def async_handle(self, event: DetectionEvent) -> None:
        """Take the event (same as `accept`, for callers that await)."""
        self.accept(event)
