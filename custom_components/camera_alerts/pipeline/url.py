"""Camera URL checks and redaction; pure string work, safe on the event loop."""

from __future__ import annotations

from pathlib import Path
import re
from urllib.parse import unquote, urlsplit

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
REDACTED = "***"

# Parts of query and path keys that mark a credential. IP cameras put user
# names, passwords and tokens in many places: `?usr=..&pwd=..` (Foscam),
# `?loginuse=..&loginpas=..` (many DVRs), `?auth=<base64>`, signed links
# (`sig`, `token`, `key`), and in the path, `/user=admin_password=.._channel=1`
# (Xiongmai). A key holding any of these is hidden, even where that hides a
# harmless value: a leaked password cannot be taken back.
_SECRET_KEY_PARTS = (
    "user",
    "usr",
    "login",
    "pass",
    "pwd",
    "auth",
    "token",
    "key",
    "sig",
    "secret",
    "cred",
    "session",
    "account",
)
# Short keys that are credentials on their own (`?u=admin&p=..`).
_SECRET_KEYS = frozenset({"u", "p", "pw", "pin", "sid"})
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>.*)$", re.DOTALL)
# `key=value` inside a path: the value runs to the next `_key=`, `&`, `;`, `/`
# or the end of the path (`user=admin_password=SECRET_channel=1_stream=0.sdp`).
_PATH_PAIR = re.compile(
    r"(?P<key>[A-Za-z][A-Za-z0-9]*)=(?P<value>.*?)"
    r"(?=[_&;,][A-Za-z][A-Za-z0-9]+=|[&;/]|$)",
    re.DOTALL,
)


class InvalidUrlError(ValueError):
    """The text is not a camera URL this integration can open."""


def is_secret_key(key: str) -> bool:
    """Return True for a query or path key that looks like it holds a credential."""
    name = re.sub(r"[^a-z0-9]", "", unquote(key).lower())
    return name in _SECRET_KEYS or any(part in name for part in _SECRET_KEY_PARTS)


def redact_url(url: str) -> str:
    """Return `url` with every credential it may hold replaced by ***.

    Hidden: the user info (`user:password@`), query values whose key looks like
    a credential (`pwd`, `loginpas`, `token`, `sig`, ...) and `key=value` pairs
    of that kind inside the path (`/user=admin_password=..._channel=1`).
    Errs on the side of hiding: camera passwords often hold unescaped `@`, `/`
    or `#`, so everything before the last `@` of the text after the scheme is
    treated as user info. The rest of the URL is kept as typed.
    """
    match = _SCHEME.match(url)
    scheme, rest = (match["scheme"], match["rest"]) if match else ("", url)
    if "@" in rest:
        rest = f"{REDACTED}@{rest.rpartition('@')[2]}"
    head, sep, query = rest.partition("?")
    return scheme + _redact_path(head) + sep + _redact_query(query)


def _redact_path(path: str) -> str:
    return _PATH_PAIR.sub(
        lambda pair: f"{pair['key']}={REDACTED}"
        if is_secret_key(pair["key"])
        else pair[0],
        path,
    )


def _redact_query(query: str) -> str:
    query, hash_sep, fragment = query.partition("#")
    pairs = []
    for pair in re.split(r"([&;])", query):
        key, sep, _value = pair.partition("=")
        pairs.append(f"{key}={REDACTED}" if sep and is_secret_key(key) else pair)
    return "".join(pairs) + hash_sep + fragment


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
