"""Tiny synthetic ONNX models whose outputs are known tensors (built with onnx.helper)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

onnx = pytest.importorskip("onnx")
helper = onnx.helper
numpy_helper = onnx.numpy_helper
TensorProto = onnx.TensorProto

Dim = int | str
ELEM = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.uint8): TensorProto.UINT8,
}


def constant_model(
    path: Path,
    outputs: Mapping[str, npt.NDArray[np.generic]],
    *,
    input_shape: Sequence[Dim] = (1, 3, 64, 64),
    input_name: str = "images",
    input_type: int = TensorProto.FLOAT,
    output_shapes: Mapping[str, Sequence[Dim]] | None = None,
    metadata: Mapping[str, str] | None = None,
    extra_inputs: Sequence[tuple[str, int, Sequence[Dim]]] = (),
    producer: str = "tests",
) -> Path:
    """Write a model that ignores its image and returns ``outputs`` as they are."""
    nodes = []
    graph_outputs = []
    initializers = []
    inputs = [helper.make_tensor_value_info(input_name, input_type, list(input_shape))]
    inputs += [helper.make_tensor_value_info(n, t, list(s)) for n, t, s in extra_inputs]
    for name, value in outputs.items():
        array = np.asarray(value)
        elem = ELEM[array.dtype]
        if output_shapes and name in output_shapes:
            # An overridable initializer keeps the declared (symbolic) shape visible.
            shape = list(output_shapes[name])
            initializers.append(numpy_helper.from_array(array, name=f"{name}_src"))
            inputs.append(helper.make_tensor_value_info(f"{name}_src", elem, shape))
            nodes.append(helper.make_node("Identity", [f"{name}_src"], [name]))
        else:
            shape = list(array.shape)
            nodes.append(
                helper.make_node(
                    "Constant", [], [name], value=numpy_helper.from_array(array)
                )
            )
        graph_outputs.append(helper.make_tensor_value_info(name, elem, shape))
    return save(path, nodes, inputs, graph_outputs, metadata, producer, initializers)


def save(
    path: Path,
    nodes: list[object],
    inputs: list[object],
    outputs: list[object],
    metadata: Mapping[str, str] | None = None,
    producer: str = "tests",
    initializers: list[object] | None = None,
) -> Path:
    """Check and write a graph as an opset-13 model."""
    graph = helper.make_graph(
        nodes, "synthetic", inputs, outputs, initializer=initializers or []
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)], producer_name=producer
    )
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def detr_model(
    path: Path,
    labels: npt.NDArray[np.int64],
    boxes_normalised: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    *,
    with_sizes: bool = True,
    size: int = 64,
) -> Path:
    """RT-DETR/D-FINE-like model: boxes = normalised boxes x orig_target_sizes (w, h, w, h)."""
    nodes = [
        helper.make_node(
            "Constant", [], ["labels"], value=numpy_helper.from_array(labels)
        ),
        helper.make_node(
            "Constant", [], ["scores"], value=numpy_helper.from_array(scores)
        ),
    ]
    inputs = [
        helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])
    ]
    if with_sizes:
        inputs.append(
            helper.make_tensor_value_info(
                "orig_target_sizes", TensorProto.INT64, [1, 2]
            )
        )
        nodes += [
            helper.make_node(
                "Constant",
                [],
                ["norm"],
                value=numpy_helper.from_array(boxes_normalised),
            ),
            helper.make_node(
                "Cast", ["orig_target_sizes"], ["sizes_f"], to=TensorProto.FLOAT
            ),
            helper.make_node("Concat", ["sizes_f", "sizes_f"], ["sizes4"], axis=1),
            helper.make_node("Unsqueeze", ["sizes4", "axes"], ["sizes3"]),
            helper.make_node("Mul", ["norm", "sizes3"], ["boxes"]),
            helper.make_node(
                "Constant",
                [],
                ["axes"],
                value=numpy_helper.from_array(np.array([1], dtype=np.int64)),
            ),
        ]
        # Constants must come before their users.
        nodes.insert(0, nodes.pop())
    else:
        nodes.append(
            helper.make_node(
                "Constant",
                [],
                ["boxes"],
                value=numpy_helper.from_array(boxes_normalised),
            )
        )
    n = labels.shape[1]
    outputs = [
        helper.make_tensor_value_info("labels", TensorProto.INT64, [1, n]),
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, n, 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, n]),
    ]
    return save(path, nodes, inputs, outputs)
