"""Create Frigate manual events for new tracks (Frigate HTTP API).

Checked against Frigate's source (frigate/api/event.py, frigate/api/auth.py,
frigate/api/defs/request/events_body.py):
- `POST /api/events/{camera}/{label}/create`, JSON `EventsCreateBody`:
  `sub_label` (str|None), `score` (float, stored as the event's top score, 0..1),
  `duration` (int seconds, or null for an open event), `include_recording`
  (bool), `draw` (dict; `boxes: [{box: [x, y, w, h] relative, score}]`, where
  Frigate printed the box score as a percentage). The answer is
  `{"success": true, "message": ..., "event_id": "<frigate id>"}`; an unknown
  camera answers 404 `{"success": false, "message": "<camera> is not a valid camera."}`.
- `PUT /api/events/{event_id}/end` with `{"end_time": <unix seconds>}` ends an
  open manual event (404 when the id is unknown).
- `POST /api/login` with `{"user", "password"}` answers 200 and sets the
  `frigate_token` cookie (401 on bad credentials, 404 when auth is disabled);
  the token works as `Authorization: Bearer <token>`.

One create per `new` track; `update` is skipped. With `duration=None` (default)
the Frigate event stays open until the track's `end`, so its length follows the
track; with a number Frigate closes it by itself and `end` is skipped.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Mapping
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import quote

import aiohttp

from ..models import DetectionEvent, EventType
from .base import Sink, redact
from .errors import CannotConnect, InvalidAuth

_LOGGER = logging.getLogger(__name__)

TOKEN_COOKIE = "frigate_token"
REQUEST_TIMEOUT = 10.0
RETRIES = 3
BACKOFF = 1.0
# After a refused login, wait this long before trying again (no retry storm).
LOGIN_HOLDOFF = 60.0
# Open Frigate events remembered for their `end`; the oldest are forgotten beyond this.
MAX_OPEN_EVENTS = 1000

type CameraMapper = Callable[[str], str | None] | Mapping[str, str]


class FrigateError(Exception):
    """A Frigate request failed for good (after retries, or not retryable)."""


class FrigateSink(Sink):
    """Mirror each new track as a Frigate manual event."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        frigate_camera_for: CameraMapper,
        *,
        username: str | None = None,
        password: str | None = None,
        name: str = "frigate",
        duration: int | None = None,
        include_recording: bool = True,
        sub_label: str | None = None,
        timeout: float = REQUEST_TIMEOUT,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
    ) -> None:
        """Initialise the sink; `session` is HA's shared client session in production."""
        super().__init__(name)
        self._session = session
        self._url = url.rstrip("/")
        if isinstance(frigate_camera_for, Mapping):
            mapping = frigate_camera_for
            self._camera_for: Callable[[str], str | None] = mapping.get
        else:
            self._camera_for = frigate_camera_for
        self._username = username or None
        self._password = password or ""
        self._secrets = [secret for secret in (password,) if secret]
        self._duration = duration
        self._include_recording = include_recording
        self._sub_label = sub_label
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._backoff = backoff
        self._token: str | None = None
        self._login_blocked_until = 0.0
        self.unknown_cameras: set[str] = set()
        # Our event id -> Frigate's event id, for ending open events.
        self._open: OrderedDict[str, str] = OrderedDict()

    def status(self) -> dict[str, Any]:
        """Return the status with the cameras Frigate does not know."""
        return {
            **super().status(),
            "unknown_cameras": sorted(self.unknown_cameras),
            "open_events": len(self._open),
        }

    async def async_start(self) -> None:
        """Check that Frigate answers (and log in); failures only show in the state."""
        try:
            await self._async_request("GET", "/api/version", None, authenticated=False)
            if self._username:
                await self._async_login()
        except FrigateError as err:
            self._record_error(str(err), failed=0)
            self._set_connected(False)
            return
        self._set_connected(True)

    async def async_stop(self) -> None:
        """End the Frigate events of tracks still open (best effort, no retries)."""
        open_events, self._open = self._open, OrderedDict()
        self._retries, retries = 0, self._retries
        try:
            for frigate_id in open_events.values():
                try:
                    await self._async_end(frigate_id, time.time())
                except FrigateError:
                    break  # Frigate is away; do not wait for each one.
        finally:
            self._retries = retries
        self._set_connected(False)

    async def async_handle(self, event: DetectionEvent) -> None:
        """Create on `new`, end on `end`, ignore `update`."""
        if event.type is EventType.UPDATE:
            return
        if event.type is EventType.END:
            frigate_id = self._open.pop(event.event_id, None)
            if frigate_id is None:
                return
            try:
                await self._async_end(frigate_id, event.timestamp.timestamp())
            except FrigateError as err:
                self._record_error(str(err))
                return
            self._record_success()
            return
        camera = self._camera_for(event.camera)
        if camera is None or camera in self.unknown_cameras:
            return
        try:
            frigate_id = await self._async_create(camera, event)
        except FrigateError as err:
            self._record_error(str(err))
            return
        self._record_success()
        if frigate_id and self._duration is None:
            self._open[event.event_id] = frigate_id
            if len(self._open) > MAX_OPEN_EVENTS:
                self._open.popitem(last=False)

    def _create_body(self, event: DetectionEvent) -> dict[str, Any]:
        box = event.box
        return {
            "sub_label": self._sub_label,
            "score": round(event.score, 4),
            "duration": self._duration,
            "include_recording": self._include_recording,
            "draw": {
                "boxes": [
                    {
                        "box": [box["x"], box["y"], box["width"], box["height"]],
                        "score": round(event.score * 100),
                    }
                ]
            },
        }

    async def _async_create(self, camera: str, event: DetectionEvent) -> str | None:
        path = (
            f"/api/events/{quote(camera, safe='')}/{quote(event.label, safe='')}/create"
        )
        status, data = await self._async_request("POST", path, self._create_body(event))
        if status == 404:
            self.unknown_cameras.add(camera)
            _LOGGER.warning(
                "Frigate does not know the camera %s; no events are sent for it", camera
            )
            message = data.get("message") if isinstance(data, dict) else None
            raise FrigateError(message or f"{camera} is not a valid camera")
        if status != 200:
            raise FrigateError(f"create answered HTTP {status}")
        frigate_id = data.get("event_id") if isinstance(data, dict) else None
        return str(frigate_id) if frigate_id else None

    async def _async_end(self, frigate_id: str, end_time: float) -> None:
        status, _ = await self._async_request(
            "PUT",
            f"/api/events/{quote(frigate_id, safe='')}/end",
            {"end_time": end_time},
        )
        # 404: Frigate no longer has it (deleted, or never stored); nothing to end.
        if status not in (200, 404):
            raise FrigateError(f"end answered HTTP {status}")

    async def _async_login(self) -> None:
        """Get a token; raise FrigateError when refused."""
        if time.monotonic() < self._login_blocked_until:
            raise FrigateError("invalid_auth")
        status, _, cookie = await self._async_send(
            "POST",
            "/api/login",
            {"user": self._username, "password": self._password},
            authenticated=False,
        )
        if status == 404:
            # Frigate answers 404 when its authentication is disabled.
            self._token = None
            return
        if status != 200 or not cookie:
            self._token = None
            self._login_blocked_until = time.monotonic() + LOGIN_HOLDOFF
            raise FrigateError(
                "invalid_auth" if status in (400, 401, 403) else f"login HTTP {status}"
            )
        self._token = cookie

    async def _async_request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        authenticated: bool = True,
    ) -> tuple[int, Any]:
        """Send with retries and backoff; log in again once on 401."""
        attempt = 0
        relogged = False
        while True:
            try:
                if authenticated and self._username and self._token is None:
                    await self._async_login()
                status, data, _ = await self._async_send(
                    method, path, body, authenticated=authenticated
                )
            except (aiohttp.ClientError, TimeoutError) as err:
                status, data = 0, redact(f"{type(err).__name__}: {err}", self._secrets)
            if status == 401 and authenticated and self._username and not relogged:
                relogged = True
                self._token = None
                continue
            if status == 401:
                raise FrigateError("invalid_auth")
            if status and status < 500:
                self._set_connected(True)
                return status, data
            self._set_connected(False)
            if attempt >= self._retries:
                reason = data if status == 0 else f"HTTP {status}"
                raise FrigateError(f"{method} {path} failed: {reason}")
            await asyncio.sleep(self._backoff * 2**attempt)
            attempt += 1

    async def _async_send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        authenticated: bool = True,
    ) -> tuple[int, Any, str | None]:
        """Send one request; return the status, the decoded body and the token cookie."""
        headers = {}
        if authenticated and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        async with self._session.request(
            method,
            f"{self._url}{path}",
            json=body,
            headers=headers,
            timeout=self._timeout,
        ) as response:
            # A proxy's error page or a crashing server may label anything JSON:
            # such a body is kept as text, never an exception mid-way through a
            # loop (ending the open events on stop).
            data: Any = (await response.read()).decode("utf-8", errors="replace")
            if response.content_type == "application/json":
                with contextlib.suppress(ValueError):
                    data = json.loads(data)
            morsel = response.cookies.get(TOKEN_COOKIE)
            return response.status, data, morsel.value if morsel else None


async def async_validate_frigate(
    session: aiohttp.ClientSession,
    url: str,
    username: str | None = None,
    password: str | None = None,
) -> None:
    """Check Frigate answers and accepts the credentials; raise CannotConnect/InvalidAuth."""
    base = url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    secrets = [password] if password else []
    try:
        async with session.get(f"{base}/api/version", timeout=timeout) as response:
            if response.status != 200:
                raise CannotConnect(f"Frigate answered HTTP {response.status}")
        if not username:
            return
        async with session.post(
            f"{base}/api/login",
            json={"user": username, "password": password or ""},
            timeout=timeout,
        ) as response:
            if response.status in (400, 401, 403):
                raise InvalidAuth("Frigate refused the credentials")
            if response.status == 404:
                return  # authentication disabled in Frigate: any credentials do
            if response.status != 200 or TOKEN_COOKIE not in response.cookies:
                raise CannotConnect(f"Frigate login answered HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError, ValueError) as err:
        raise CannotConnect(redact(f"{type(err).__name__}: {err}", secrets)) from err
