"""Camera URL checks and redaction; pure string work, safe on the event loop."""

from __future__ import annotations

from pathlib import Path
import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
REDACTED = "***"

# Query keys that IP cameras commonly use for credentials in snapshot/MJPEG URLs.
_SECRET_QUERY_KEYS = frozenset(
    {
        "user",
        "username",
        "usr",
        "login",
        "password",
        "passwd",
        "pass",
        "pwd",
        "token",
        "access_token",
        "auth",
        "key",
        "api_key",
        "apikey",
        "secret",
    }
)
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>.*)$", re.DOTALL)


class InvalidUrlError(ValueError):
    """The text is not a camera URL this integration can open."""


def redact_url(url: str) -> str:
    """Return `url` with its user info and credential query values replaced by ***.

    Errs on the side of hiding: camera passwords often hold unescaped `@`, `/`
    or `#`, so everything before the last `@` of the text after the scheme is
    treated as user info.
    """
    match = _SCHEME.match(url)
    scheme, rest = (match["scheme"], match["rest"]) if match else ("", url)
    if "@" in rest:
        rest = f"{REDACTED}@{rest.rpartition('@')[2]}"
    return scheme + _redact_query(rest)


def _redact_query(rest: str) -> str:
    head, sep, query = rest.partition("?")
    if not sep:
        return rest
    query, hash_sep, fragment = query.partition("#")
    pairs = parse_qsl(query, keep_blank_values=True)
    redacted = [
        (key, REDACTED if key.lower() in _SECRET_QUERY_KEYS else value)
        for key, value in pairs
    ]
    return f"{head}?{urlencode(redacted, safe='*')}{hash_sep}{fragment}"


def source_target(url: str, *, must_exist: bool = True) -> str:
    """Return what OpenCV should open for `url`: the URL, or a local file path.

    Raises InvalidUrlError (with a redacted message) for anything that is not an
    rtsp/rtsps/http/https URL with a host, a file:// URL or an absolute file
    path. With `must_exist`, the file must exist now; a running source passes
    False so a file that goes missing is retried like an unreachable camera.
    """
    text = url.strip()
    if not text or any(ord(char) < 32 for char in text):
        raise InvalidUrlError(f"Not a camera URL: {redact_url(url)!r}")
    if text.startswith("/"):
        return _local_file(Path(text), url, must_exist=must_exist)
    try:
        parts = urlsplit(text)
        # Reading .port validates it (raises ValueError for junk or out of range).
        _ = parts.port
    except ValueError as err:
        raise InvalidUrlError(f"Not a camera URL: {redact_url(url)!r}") from err
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidUrlError(
                f"Only local files are supported: {redact_url(url)!r}"
            )
        return _local_file(Path(unquote(parts.path)), url, must_exist=must_exist)
    if scheme not in NETWORK_SCHEMES:
        raise InvalidUrlError(
            f"Unsupported scheme {parts.scheme!r} (use rtsp, rtsps, http, https or file): "
            f"{redact_url(url)!r}"
        )
    if not parts.hostname:
        raise InvalidUrlError(f"URL has no host: {redact_url(url)!r}")
    # FFmpeg matches protocols case-sensitively; the rest (credentials included)
    # is passed on exactly as typed.
    return scheme + text[len(parts.scheme) :]


def is_local_file(target: str) -> bool:
    """Return True when a `source_target` result is a file path, not a URL."""
    return target.startswith("/")


def _local_file(path: Path, url: str, *, must_exist: bool) -> str:
    if not path.is_absolute():
        raise InvalidUrlError(f"Not an absolute file path: {redact_url(url)!r}")
    if must_exist and not path.is_file():
        raise InvalidUrlError(f"No such file: {redact_url(url)!r}")
    return str(path)
