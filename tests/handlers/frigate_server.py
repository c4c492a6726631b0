"""A small Frigate stand-in on 127.0.0.1 following Frigate's HTTP API for what the sink uses.

Paths, bodies and answers follow frigate/api/event.py (create_event, end_event),
frigate/api/auth.py (login, `frigate_token` cookie, bearer header) and
frigate/api/defs/request/events_body.py (EventsCreateBody). Extra knobs let a test
make it fail: `fail_statuses` (answer these statuses first), `delay` (slow answers),
`garbled_replies` (bodies labelled JSON that are not), `expire_tokens()` (every issued
token stops working).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
import secrets
import time
from typing import Any

from aiohttp import web

VERSION = "0.16.0-fake"

# EventsCreateBody: field -> accepted types (None allowed where Optional).
_CREATE_FIELDS: dict[str, tuple[type, ...]] = {
    "source_type": (str,),
    "sub_label": (str,),
    "score": (float, int),
    "duration": (int,),
    "include_recording": (bool,),
    "draw": (dict,),
    "pre_capture": (int,),
}


@dataclass
class CreatedEvent:
    """A manual event as the fake stored it."""

    event_id: str
    camera: str
    label: str
    body: dict[str, Any]
    end_time: float | None = None


@dataclass
class FakeFrigate:
    """State and handlers of the fake server."""

    cameras: set[str]
    users: dict[str, str] = field(default_factory=dict)  # empty: auth disabled
    fail_statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    # Answers (after doing the work) whose body claims JSON but is not, as a
    # proxy's error page or a crashing server sends.
    garbled_replies: int = 0
    events: dict[str, CreatedEvent] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    logins: int = 0
    _tokens: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    url: str = ""

    @property
    def auth_enabled(self) -> bool:
        return bool(self.users)

    def expire_tokens(self) -> None:
        """Make every issued token invalid (as when the JWT expired)."""
        self._tokens.clear()

    async def async_start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/version", self._version)
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/events/{camera_name}/{label}/create", self._create)
        app.router.add_put("/api/events/{event_id}/end", self._end)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def async_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Any
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_statuses and request.path != "/api/version":
            status = self.fail_statuses.pop(0)
            return web.json_response({"message": "Internal error"}, status=status)
        public = request.path in ("/api/version", "/api/login")
        if self.auth_enabled and not public and not self._authorised(request):
            # Frigate's nginx auth_request answers an empty 401.
            return web.Response(status=401)
        response: web.StreamResponse = await handler(request)
        if self.garbled_replies and not public:
            self.garbled_replies -= 1
            return web.Response(
                status=response.status,
                body=b"<html>502 Bad Gateway</html>\xff",
                content_type="application/json",
            )
        return response

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        token = token or request.cookies.get("frigate_token")
        return token is not None and token in self._tokens

    async def _version(self, _request: web.Request) -> web.Response:
        return web.Response(text=VERSION)

    async def _login(self, request: web.Request) -> web.Response:
        if not self.auth_enabled:
            return web.json_response(
                {"message": "Authentication is disabled"}, status=404
            )
        body = await request.json()
        if self.users.get(body.get("user")) != body.get("password"):
            return web.json_response({"message": "Login failed"}, status=401)
        self.logins += 1
        token = secrets.token_hex(16)
        self._tokens.add(token)
        response = web.Response(text="", status=200)
        response.set_cookie("frigate_token", token, httponly=True, samesite="Strict")
        return response

    async def _create(self, request: web.Request) -> web.Response:
        camera = request.match_info["camera_name"]
        label = request.match_info["label"]
        body = await request.json() if request.can_read_body else {}
        for key, value in body.items():
            kinds = _CREATE_FIELDS.get(key)
            if kinds is None:
                continue  # pydantic ignores unknown fields
            if value is not None and (
                not isinstance(value, kinds)
                or (bool not in kinds and isinstance(value, bool))
            ):
                return web.json_response(
                    {"detail": [{"loc": ["body", key]}]}, status=422
                )
        if camera not in self.cameras:
            return web.json_response(
                {"success": False, "message": f"{camera} is not a valid camera."},
                status=404,
            )
        now = time.time()
        event_id = f"{now}-{secrets.token_hex(3)}"
        self.events[event_id] = CreatedEvent(event_id, camera, label, body)
        return web.json_response(
            {
                "success": True,
                "message": "Successfully created event.",
                "event_id": event_id,
            }
        )

    async def _end(self, request: web.Request) -> web.Response:
        event_id = request.match_info["event_id"]
        event = self.events.get(event_id)
        if event is None:
            return web.json_response(
                {"success": False, "message": f"Event {event_id} not found."},
                status=404,
            )
        body = await request.json() if request.can_read_body else {}
        event.end_time = body.get("end_time") or time.time()
        return web.json_response(
            {"success": True, "message": "Event successfully ended."}
        )


@asynccontextmanager
async def running_frigate(
    cameras: set[str], users: dict[str, str] | None = None
) -> AsyncIterator[FakeFrigate]:
    """Run the stand-in for the block (tests' fixtures use it)."""
    server = FakeFrigate(cameras=cameras, users=users or {})
    await server.async_start()
    try:
        yield server
    finally:
        await server.async_stop()
