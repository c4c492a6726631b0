"""The DeepStack / CodeProject.AI backend against a server that answers their API.

`tests/deepstack_server.py` is the HTTP shell of such a server around the bundled
model, so the detections are real: they must match the local detector's.

Through this API every frame travels as a JPEG (quality 90), which by itself
moves NanoDet's scores: up to ~0.03 on these photos, ~0.06 for objects of
20 px (measured: the local detector on a re-encoded copy against the original).
So the strict comparison (same labels, scores within 0.02, IoU > 0.99 once the
reference boxes are cut to whole pixels as DeepStack does) is against the local
detector on the very image the server received. Against the local detector on
the original frame the detections agree within the JPEG's margin (scores within
0.05, 0.1 for objects under 32 px; IoU > 0.9 or corners within 2 px), every
detection clear of the threshold by that margin present in both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from io import BytesIO
from pathlib import Path
import threading
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image
import pytest

from custom_components.camera_alerts.inference import (
    COCO_80,
    DeepStackDetector,
    Detection,
    Detector,
    DetectorError,
    RemoteServerError,
    deepstack,
    load_deepstack_detector,
    load_detector,
    preprocess,
)

from ..camera_sources.media import free_port
from ..deepstack_server import DeepStackServer, PlainHttpServer
from .compare import detection_iou, xyxy

PHOTOS = sorted((Path(__file__).parent / "data").glob("*.jpg"))
THRESHOLD = 0.3
API_KEY = "s3cret-deepstack-key"


@pytest.fixture(scope="module", params=["codeproject", "deepstack"])
def shared_server(request: pytest.FixtureRequest) -> Iterator[DeepStackServer]:
    """One server per flavour of answer (CodeProject.AI's extra fields, DeepStack's)."""
    with DeepStackServer(flavor=request.param) as server:
        yield server


@pytest.fixture
def server(shared_server: DeepStackServer, socket_enabled: None) -> DeepStackServer:
    """The shared server, counters reset, with sockets to 127.0.0.1 allowed."""
    shared_server.reset_counts()
    shared_server.label_map.clear()
    return shared_server


@pytest.fixture
def own_server(socket_enabled: None) -> Iterator[DeepStackServer]:
    """A server of this test only (it may stop and start it)."""
    with DeepStackServer() as server:
        yield server


@pytest.fixture(scope="module")
def local() -> Detector:
    """The bundled model run here, the reference."""
    return load_detector(None, score_threshold=THRESHOLD, intra_op_num_threads=1)


def _photo(name: str) -> npt.NDArray[np.uint8]:
    frame = cv2.imread(str(Path(__file__).parent / "data" / name))
    assert frame is not None
    return np.asarray(frame, dtype=np.uint8)


def _decoded(jpeg: bytes | None) -> npt.NDArray[np.uint8]:
    """The upload as the server decoded it (Pillow, RGB -> BGR)."""
    assert jpeg is not None
    assert jpeg[:2] == b"\xff\xd8", "not a JPEG"
    rgb = np.asarray(Image.open(BytesIO(jpeg)).convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _as_sent(
    detections: Sequence[Detection], dx: int = 0, dy: int = 0
) -> list[Detection]:
    """Boxes as the server sends them (``int()`` pixels of the upload), moved by (dx, dy)."""
    out = []
    for d in detections:
        x1, y1, x2, y2 = (int(value) for value in xyxy(d))
        out.append(
            Detection(
                class_id=d.class_id,
                class_name=d.class_name,
                confidence=d.confidence,
                bbox={
                    "x": float(x1 + dx),
                    "y": float(y1 + dy),
                    "width": float(x2 - x1),
                    "height": float(y2 - y1),
                },
            )
        )
    return out


def _close(a: Detection, b: Detection, iou_min: float) -> bool:
    """IoU above ``iou_min``; for a box of a few pixels, corners within 2 px will do."""
    corners = max(abs(p - q) for p, q in zip(xyxy(a), xyxy(b), strict=True))
    return detection_iou(a, b) > iou_min or (iou_min < 0.99 and corners <= 2.0)


def _jpeg_margin(d: Detection) -> float:
    """How far one JPEG pass (q90) may move a score: more for objects of a few pixels."""
    return 0.05 if min(d.bbox["width"], d.bbox["height"]) >= 32 else 0.1


def _assert_match(
    got: Sequence[Detection],
    expected: Sequence[Detection],
    *,
    strict: bool,
    threshold: float = THRESHOLD,
) -> int:
    """Pair each detection of either list with one of the other; return the pairs made.

    Same label and class id. ``strict`` (the same image): IoU > 0.99, scores
    within 0.02, every detection. Otherwise (the original frame against its
    JPEG): IoU > 0.9 (or corners within 2 px) and scores within the JPEG's
    margin, for the detections clear of the threshold by that margin.
    """
    pairs = 0
    for mine, theirs in ((expected, got), (got, expected)):
        free = list(theirs)
        for d in mine:
            tolerance = 0.02 if strict else _jpeg_margin(d)
            if not strict and d.confidence < threshold + tolerance:
                continue
            candidates = [o for o in free if o.class_name == d.class_name]
            assert candidates, (
                f"no {d.class_name} ({d.confidence:.3f}) in the other list"
            )
            best = max(candidates, key=lambda o: detection_iou(d, o))
            assert _close(d, best, 0.99 if strict else 0.9), (d, best)
            assert abs(d.confidence - best.confidence) < tolerance, (d, best)
            assert d.class_id == best.class_id
            free.remove(best)
            pairs += 1
    return pairs


# ---------------------------------------------------------------------- detections


def test_same_detections_as_local(server: DeepStackServer, local: Detector) -> None:
    """Every shared photo: the server's detections are the local detector's."""
    remote = load_deepstack_detector(server.url, score_threshold=THRESHOLD)
    assert isinstance(remote, DeepStackDetector)
    assert (remote.engine, remote.adapter_name) == ("deepstack", "deepstack")
    assert remote.model_path == Path("deepstack")
    assert remote.input_size == (640, 640)
    assert remote.class_names == COCO_80
    assert remote.labels is None
    assert server.requests == 1  # the warm-up
    assert len(PHOTOS) == 4
    strict = loose = total = 0
    for photo in PHOTOS:
        frame = _photo(photo.name)
        got = remote.detect(frame)
        assert got, photo.name
        assert server.image_sizes[-1] == (frame.shape[1], frame.shape[0])
        assert [d.confidence for d in got] == sorted(
            (d.confidence for d in got), reverse=True
        )
        seen = _as_sent(local.detect(_decoded(server.last_image)))
        assert len(got) == len(seen), photo.name
        total += len(got)
        strict += _assert_match(got, seen, strict=True)
        loose += _assert_match(got, local.detect(frame), strict=False)
        for d in got:
            x1, y1, x2, y2 = xyxy(d)
            assert 0 <= x1 < x2 <= frame.shape[1]
            assert 0 <= y1 < y2 <= frame.shape[0]
            assert d.class_id == COCO_80.index(d.class_name)
    assert strict == 2 * total  # both directions: every detection paired
    print(f"{total} detections, {loose // 2} clear of the threshold matched")
    assert total >= 20
    assert loose >= 2 * 15
    assert server.requests == 1 + len(PHOTOS)
    assert server.detections == 1 + len(PHOTOS)


@pytest.mark.parametrize(
    ("photo", "region"),
    [
        ("dog.jpg", (100, 80, 400, 380)),
        ("kite.jpg", (0, 300, 700, 600)),
        ("person.jpg", (-50, 100, 420, 900)),  # partly outside: clamped into the frame
    ],
)
def test_region_crop(
    server: DeepStackServer,
    local: Detector,
    photo: str,
    region: tuple[int, int, int, int],
) -> None:
    """Only the region is sent; boxes come back in frame pixels, inside the region."""
    remote = load_deepstack_detector(
        server.url, score_threshold=THRESHOLD, warmup=False
    )
    frame = _photo(photo)
    rx, ry, rw, rh = preprocess.clamp_region(region, frame.shape[1], frame.shape[0])
    got = remote.detect(frame, region=region)
    assert got
    assert server.image_sizes == [(rw, rh)]
    for d in got:
        x1, y1, x2, y2 = xyxy(d)
        assert rx <= x1 < x2 <= rx + rw
        assert ry <= y1 < y2 <= ry + rh
    # The crop as the server saw it, detected here and moved into the frame.
    seen = _as_sent(local.detect(_decoded(server.last_image)), rx, ry)
    assert len(got) == len(seen)
    assert _assert_match(got, seen, strict=True) == 2 * len(got)
    # The local detector on the same region of the original frame.
    reference = local.detect(frame, region=region)
    assert _assert_match(got, reference, strict=False) >= 2


# ---------------------------------------------------------------------- filtering


def test_labels_and_min_scores(server: DeepStackServer) -> None:
    """The allow-list and per-label scores filter exactly as Detector's do."""
    frame = _photo("dog.jpg")
    everything = load_deepstack_detector(
        server.url, score_threshold=THRESHOLD, warmup=False
    )
    all_found = everything.detect(frame)
    assert {"dog", "bicycle", "car", "truck"} <= {d.class_name for d in all_found}
    assert server.forms[-1]["min_confidence"] == "0.3"

    labels = ["dog", "bicycle"]
    min_scores = {"bicycle": 0.5, "car": 0.1}
    remote = load_deepstack_detector(
        server.url,
        score_threshold=THRESHOLD,
        labels=labels,
        min_scores=min_scores,
        warmup=False,
    )
    assert remote.labels == frozenset(labels)
    assert remote.min_scores == min_scores
    got = remote.detect(frame)
    # car's 0.1 does not count: the allow-list leaves car out.
    assert server.forms[-1]["min_confidence"] == "0.3"
    expected = [
        d
        for d in all_found
        if d.class_name == "dog" or (d.class_name == "bicycle" and d.confidence >= 0.5)
    ]
    assert got == expected
    assert {d.class_name for d in got} == {"dog", "bicycle"}
    assert all(d.confidence >= 0.5 for d in got if d.class_name == "bicycle")
    assert any(d.class_name == "bicycle" and d.confidence < 0.5 for d in all_found)

    # The local detector with the same rules keeps the same objects.
    filtered = load_detector(
        None,
        score_threshold=THRESHOLD,
        labels=labels,
        min_scores=min_scores,
        intra_op_num_threads=1,
    )
    _assert_match(got, filtered.detect(frame), strict=False)


@pytest.mark.parametrize(
    ("kwargs", "sent"),
    [
        ({"score_threshold": 0.5}, "0.5"),
        ({"score_threshold": 0.5, "min_scores": {"person": 0.35}}, "0.35"),
        (
            {
                "score_threshold": 0.45,
                "labels": ["bicycle"],
                "min_scores": {"bicycle": 0.6},
            },
            "0.6",
        ),
        (
            {
                "score_threshold": 0.45,
                "labels": ["bicycle", "dog"],
                "min_scores": {"bicycle": 0.6},
            },
            "0.45",
        ),
        (
            {"score_threshold": 0.45, "labels": ["dog"], "min_scores": {"person": 0.2}},
            "0.45",
        ),
    ],
)
def test_min_confidence_sent(
    server: DeepStackServer, kwargs: dict[str, Any], sent: str
) -> None:
    """min_confidence is the lowest threshold in use; the server drops what is below."""
    remote = load_deepstack_detector(server.url, **kwargs)
    assert server.forms == [{"min_confidence": sent}]  # the warm-up; no api_key field
    remote.detect(_photo("dog.jpg"))
    assert server.forms[-1] == {"min_confidence": sent}
    assert remote.min_confidence == float(sent)


def test_server_filters_on_min_confidence(server: DeepStackServer) -> None:
    """A higher min_confidence makes the server send fewer predictions."""
    frame = _photo("kite.jpg")
    low = load_deepstack_detector(server.url, score_threshold=0.3, warmup=False).detect(
        frame
    )
    high = load_deepstack_detector(
        server.url, score_threshold=0.6, warmup=False
    ).detect(frame)
    assert len(high) < len(low)
    assert all(d.confidence >= 0.6 for d in high)
    assert [d for d in low if d.confidence >= 0.6] == high


def test_labels_the_server_knows_but_coco_does_not(server: DeepStackServer) -> None:
    """A custom model's labels get class id -1; names COCO spells otherwise are mapped."""
    server.label_map.update(
        {"dog": "Doggo", "bicycle": "Bicycle", "truck": "hair_dryer"}
    )
    frame = _photo("dog.jpg")
    got = load_deepstack_detector(
        server.url, score_threshold=THRESHOLD, warmup=False
    ).detect(frame)
    by_name = {d.class_name: d.class_id for d in got}
    assert by_name["Doggo"] == -1
    assert by_name["bicycle"] == COCO_80.index("bicycle")
    assert by_name["hair drier"] == COCO_80.index("hair drier")
    assert by_name["car"] == COCO_80.index("car")
    # An allow-list without it drops the unknown label; one with it keeps it.
    kept = load_deepstack_detector(
        server.url, score_threshold=THRESHOLD, labels=["car"], warmup=False
    ).detect(frame)
    assert {d.class_name for d in kept} == {"car"}
    custom = load_deepstack_detector(
        server.url,
        score_threshold=THRESHOLD,
        labels=["Doggo"],
        min_scores={"Doggo": 0.5},
        warmup=False,
    ).detect(frame)
    assert [d.class_name for d in custom] == ["Doggo"]
    assert custom[0].confidence >= 0.5


# ---------------------------------------------------------------------- API key


def test_api_key_sent_and_wrong_key_refused(socket_enabled: None) -> None:
    """DeepStack started with API-KEY: the key goes in the form; a wrong one is a clear error."""
    with DeepStackServer(api_key=API_KEY, flavor="deepstack") as server:
        remote = load_deepstack_detector(server.url, api_key=API_KEY)
        assert server.forms[-1]["api_key"] == API_KEY
        assert remote.detect(_photo("person.jpg"))
        assert server.forms[-1]["api_key"] == API_KEY
        assert API_KEY not in repr(remote)

        wrong = "wrong-key-0123456789"
        server.reset_counts()
        with pytest.raises(RemoteServerError) as refused:
            load_deepstack_detector(server.url, api_key=wrong)
        message = str(refused.value)
        assert "refused the API key" in message
        assert "401" in message
        assert "Incorrect api key" in message
        assert wrong not in message
        assert API_KEY not in message
        assert server.requests == 1  # a 401 is not retried

        with pytest.raises(RemoteServerError, match="wants an API key") as missing:
            load_deepstack_detector(server.url)
        assert API_KEY not in str(missing.value)

        # A key that goes bad later (server restarted with another): detect fails too.
        server.api_key = "rotated-key"
        with pytest.raises(RemoteServerError, match="refused the API key") as later:
            remote.detect(_photo("person.jpg"))
        assert API_KEY not in str(later.value)
        assert isinstance(later.value, DetectorError)


# ---------------------------------------------------------------------- failures


def test_unreachable_server(socket_enabled: None) -> None:
    """Nothing listens: a clear error at load time."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RemoteServerError, match="Cannot reach the DeepStack"):
        load_deepstack_detector(url, retries=0, timeout=2)
    # Without the warm-up the detector is made, and detect raises the same.
    remote = load_deepstack_detector(url, retries=1, timeout=2, warmup=False)
    with pytest.raises(RemoteServerError, match="Cannot reach"):
        remote.detect(_photo("dog.jpg"))


def test_outage_and_recovery(own_server: DeepStackServer) -> None:
    """The server goes away and comes back on the same port; retries bridge a short gap."""
    remote = load_deepstack_detector(
        own_server.url, score_threshold=THRESHOLD, retries=0
    )
    frame = _photo("person.jpg")
    before = remote.detect(frame)
    assert before
    port = own_server.port

    own_server.stop()
    with pytest.raises(RemoteServerError, match="Cannot reach"):
        remote.detect(frame)
    own_server.start()
    assert own_server.port == port
    assert remote.detect(frame) == before

    # Down for less than the retries' backoff (0.2 s, then 0.4 s): no error at all.
    patient = DeepStackDetector(own_server.url, score_threshold=THRESHOLD, retries=2)
    own_server.stop()
    comeback = threading.Timer(0.1, own_server.start)
    comeback.start()
    try:
        requests_before = own_server.requests
        assert patient.detect(frame) == before
    finally:
        comeback.join()
    assert own_server.requests == requests_before + 1


def test_not_a_deepstack_server(socket_enabled: None) -> None:
    """Another web server (404, or 200 with a web page) is refused with a clear error."""
    with PlainHttpServer(status=404) as other:
        with pytest.raises(
            RemoteServerError, match="not a DeepStack or CodeProject.AI server"
        ) as err:
            load_deepstack_detector(other.url)
        assert "404" in str(err.value)
        assert other.requests == 1
    with (
        PlainHttpServer(status=200) as other,
        pytest.raises(
            RemoteServerError, match="did not answer like DeepStack or CodeProject.AI"
        ),
    ):
        load_deepstack_detector(other.url)
    with (
        PlainHttpServer(status=405) as other,
        pytest.raises(RemoteServerError, match="not a DeepStack"),
    ):
        load_deepstack_detector(other.url)


def test_success_false(server: DeepStackServer) -> None:
    """``success: false`` (HTTP 200 or an error status) is an error naming the server's reason."""
    server.fail_next("No module found to process this request", status=200)
    with pytest.raises(
        RemoteServerError, match="No module found to process this request"
    ):
        load_deepstack_detector(server.url)

    remote = load_deepstack_detector(server.url, retries=0)
    frame = _photo("dog.jpg")
    server.fail_next("invalid image file", status=400)
    with pytest.raises(RemoteServerError, match=r"HTTP 400 .*invalid image file"):
        remote.detect(frame)
    assert remote.detect(frame)  # the next one works
    server.fail_next("Detection endpoint not activated", status=403)
    with pytest.raises(
        RemoteServerError,
        match=r"refused the request \(HTTP 403: Detection endpoint not activated\)",
    ):
        remote.detect(frame)

    # A 5xx is retried; with retries the detection goes through.
    retrying = DeepStackDetector(server.url, retries=2, backoff=0.01)
    server.reset_counts()
    server.fail_next("error occured on the server", status=500)
    assert retrying.detect(frame)
    assert server.requests == 2
    server.fail_next("error occured on the server", status=500, times=3)
    with pytest.raises(RemoteServerError, match="HTTP 500"):
        retrying.detect(frame)


def test_url_forms() -> None:
    """Base URL, prefix, full endpoint URL, custom models; bad URLs refused (no network)."""
    plain = DeepStackDetector("http://ai.local:32168/")
    assert (plain.base_url, plain.url) == (
        "http://ai.local:32168",
        "http://ai.local:32168/v1/vision/detection",
    )
    full = DeepStackDetector("https://ai.local/deepstack/v1/vision/detection")
    assert full.base_url == "https://ai.local/deepstack"
    assert full.url == "https://ai.local/deepstack/v1/vision/detection"
    custom = DeepStackDetector("http://ai.local:80/v1/vision/custom/ipcam-general")
    assert custom.url == "http://ai.local:80/v1/vision/custom/ipcam-general"
    assert custom.model_path == Path("deepstack/custom/ipcam-general")
    for bad in ("ftp://ai.local", "ai.local:5000", "http://", ""):
        with pytest.raises(RemoteServerError, match="Not an http"):
            load_deepstack_detector(bad, warmup=False)
    with pytest.raises(RemoteServerError, match="no credentials") as err:
        load_deepstack_detector("http://admin:hunter2@ai.local:5000", warmup=False)
    assert "hunter2" not in str(err.value)


# ---------------------------------------------------------------------- no OpenCV


class _NoOpenCV:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"cv2.{name} used although OpenCV is blocked")


def test_works_without_opencv(
    server: DeepStackServer, local: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No cv2 (HA OS): Pillow encodes the JPEG; the detections are the same."""
    monkeypatch.setattr(deepstack, "HAVE_OPENCV", False)
    monkeypatch.setattr(deepstack, "cv2", _NoOpenCV(), raising=False)
    monkeypatch.setattr(preprocess, "HAVE_OPENCV", False)
    monkeypatch.setattr(preprocess, "cv2", _NoOpenCV(), raising=False)
    frame = _photo("person.jpg")
    assert deepstack.encode_jpeg(frame)[:2] == b"\xff\xd8"
    remote = load_deepstack_detector(server.url, score_threshold=THRESHOLD)
    got = remote.detect(frame)
    # The server runs in this process: its model's pre-processing is without cv2 too.
    seen = _as_sent(local.detect(_decoded(server.last_image)))
    grey = remote.detect(np.ascontiguousarray(frame[:, :, 1]))  # as_bgr without cv2
    monkeypatch.undo()
    assert got
    assert grey
    assert server.image_sizes[-2:] == [(frame.shape[1], frame.shape[0])] * 2
    assert len(got) == len(seen)
    assert _assert_match(got, seen, strict=True) == 2 * len(got)
    _assert_match(got, local.detect(frame), strict=False)
