"""URL redaction and validation: secrets never leak, junk is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.camera_alerts.pipeline.url import (
    InvalidUrlError,
    is_local_file,
    redact_url,
    source_target,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://user:pass@host/stream", "rtsp://***@host/stream"),
        ("rtsp://admin:p%40ss@10.0.0.5:554/h264", "rtsp://***@10.0.0.5:554/h264"),
        ("rtsps://user@cam.local/live", "rtsps://***@cam.local/live"),
        # Unescaped @ and / in the password are still hidden.
        ("rtsp://admin:s3cr@t/x@cam:554/main", "rtsp://***@cam:554/main"),
        ("http://cam/video.mjpg", "http://cam/video.mjpg"),
        ("/media/clip.mp4", "/media/clip.mp4"),
        (
            "http://cam/video.cgi?user=admin&pwd=hunter2&res=hd",
            "http://cam/video.cgi?user=***&pwd=***&res=hd",
        ),
        ("user:pass@host", "***@host"),
        # Credentials in the path (Xiongmai and many DVRs).
        (
            "rtsp://cam:554/user=admin_password=SECRET_channel=1_stream=0.sdp?real_stream",
            "rtsp://cam:554/user=***_password=***_channel=1_stream=0.sdp?real_stream",
        ),
        (
            "http://cam/cgi/authtoken=T0K3N/video.mjpg",
            "http://cam/cgi/authtoken=***/video.mjpg",
        ),
        # A password holding `_` and `=` is hidden up to the next `_key=`.
        ("rtsp://cam/user=a_password=se_c=r_channel=1", "rtsp://cam/user=***_password=***_channel=1"),
        ("http://cam/v.cgi?channel=1#user=x", "http://cam/v.cgi?channel=1#user=x"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "key",
    [
        "loginuse", "loginpas", "usr", "pwd", "user", "username", "passwd", "password",
        "auth", "token", "access_token", "key", "api_key", "sig", "signature",
        "camPassword", "AUTHKEY", "u", "p", "pass%77ord",
    ],
)  # fmt: skip
def test_credential_query_keys_are_hidden(key: str) -> None:
    """Vendor keys, and any key that looks like a credential, lose their value."""
    url = f"http://cam/snapshot.cgi?channel=1&{key}=hunter2&res=hd"
    assert redact_url(url) == f"http://cam/snapshot.cgi?channel=1&{key}=***&res=hd"


@pytest.mark.parametrize(
    "key", ["channel", "stream", "subtype", "resolution", "fps", "profile", "id"]
)
def test_ordinary_keys_are_kept(key: str) -> None:
    url = f"rtsp://cam/{key}=1_{key}x=2?{key}=3"
    assert redact_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:hunter2@cam/x",
        "http://u:hunter2@cam/v.mjpg?password=hunter2",
        "rtsp://a:hunter2/@cam/x",
    ],
)
def test_redacted_url_holds_no_password(url: str) -> None:
    assert "hunter2" not in redact_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://u:p@127.0.0.1:8554/cam", "rtsp://u:p@127.0.0.1:8554/cam"),
        ("RTSP://cam/stream", "rtsp://cam/stream"),
        ("https://cam/video.mjpg", "https://cam/video.mjpg"),
        (" http://cam/x ", "http://cam/x"),
    ],
)
def test_network_urls_are_passed_through(url: str, expected: str) -> None:
    target = source_target(url)
    assert target == expected
    assert not is_local_file(target)


def test_files_resolve_to_paths(tmp_path: Path) -> None:
    clip = tmp_path / "my clip.mp4"
    clip.write_bytes(b"\0")

    assert source_target(str(clip)) == str(clip)
    assert source_target(clip.as_uri()) == str(clip)
    assert is_local_file(source_target(clip.as_uri()))


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "camera",
        "ftp://cam/stream",
        "javascript:alert(1)",
        "rtsp://",
        "rtsp:///stream",
        "http://cam:99999/x",
        "http://cam:port/x",
        "relative/clip.mp4",
        "/no/such/clip.mp4",
        "file:///no/such/clip.mp4",
        "file://otherhost/clip.mp4",
        "rtsp://cam/line\nbreak",
    ],
)
def test_invalid_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidUrlError):
        source_target(url)


def test_invalid_url_message_is_redacted() -> None:
    with pytest.raises(InvalidUrlError) as err:
        source_target("ftp://admin:hunter2@cam/stream")
    assert "hunter2" not in str(err.value)
    assert "***@cam" in str(err.value)


def test_missing_file_can_be_accepted_for_a_running_source() -> None:
    assert source_target("/no/such/clip.mp4", must_exist=False) == "/no/such/clip.mp4"
    with pytest.raises(InvalidUrlError):
        source_target("relative/clip.mp4", must_exist=False)
