"""Blocking HTTP for the server backends: one request, retried the same way for all.

Standard library only, called from the camera processor threads (where local
inference would run). Connection failures, timeouts and 5xx answers are retried
with exponential backoff; any other HTTP error is final. Each backend turns a
final failure into its own message through the two callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import http.client
import json
import logging
import time
import urllib.error
import urllib.request

_LOGGER = logging.getLogger(__name__)


def send(
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    retries: int,
    backoff: float,
    http_error: Callable[[int, str], Exception],
    unreachable: Callable[[object], Exception],
) -> tuple[bytes, dict[str, str]]:
    """GET (no body) or POST ``url``; return the answer's body and headers.

    Raises ``http_error(status, detail)`` for a final HTTP error and
    ``unreachable(reason)`` when the server cannot be reached after the retries.
    """
    attempt = 0
    while True:
        request = urllib.request.Request(
            url,
            data=body,
            headers=dict(headers or {}),
            method="GET" if body is None else "POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read(), dict(response.headers.items())
        except urllib.error.HTTPError as err:
            detail = error_text(err)
            if err.code < 500 or attempt >= retries:
                raise http_error(err.code, detail) from None
            reason = f"HTTP {err.code}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            why = getattr(err, "reason", err)
            if attempt >= retries:
                raise unreachable(why) from None
            reason = str(why)
        attempt += 1
        delay = backoff * 2 ** (attempt - 1)
        _LOGGER.debug("Retrying %s in %.2f s (%s)", url, delay, reason)
        time.sleep(delay)


def error_text(err: urllib.error.HTTPError) -> str:
    """Return the ``error`` of a JSON error answer, else the start of its body or the reason."""
    try:
        body = err.read()
    except OSError:
        return str(err.reason)
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("error"):
        return str(document["error"])
    text = body.decode("utf-8", "replace").strip()
    return " ".join(text.split())[:200] or str(err.reason)
