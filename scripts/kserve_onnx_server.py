"""Serve an ONNX model over the Open Inference Protocol with KServe's model server.

Runs in its own environment (`scripts/setup-kserve` builds `.venv-kserve`): KServe's
pins clash with Home Assistant's. Used by the remote-backend tests and benchmarks:

    .venv-kserve/bin/python scripts/kserve_onnx_server.py MODEL.onnx --model_name nanodet \
        --http_port 8080

The server's `/v2/models/{name}` metadata lists the model's real inputs and
outputs (names, datatypes, shapes; -1 for dynamic dimensions), taken from the
ONNX Runtime session.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import kserve
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
import numpy as np
import onnxruntime as ort

_DATATYPES = {
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(double)": "FP64",
    "tensor(uint8)": "UINT8",
    "tensor(int8)": "INT8",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(bool)": "BOOL",
}


def _describe(args: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": arg.name,
            "datatype": _DATATYPES.get(arg.type, "BYTES"),
            "shape": [dim if isinstance(dim, int) else -1 for dim in arg.shape],
        }
        for arg in args
    ]


class OnnxModel(kserve.Model):
    """One ONNX model behind KServe's v2 REST data plane."""

    def __init__(self, name: str, path: str, threads: int) -> None:
        super().__init__(name)
        self.path = path
        self.threads = threads
        self.session: ort.InferenceSession | None = None

    def load(self) -> bool:
        """Create the ONNX Runtime session."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            self.path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.ready = True
        return True

    def get_input_types(self) -> list[dict[str, Any]]:
        """Return the inputs for the v2 model metadata."""
        assert self.session is not None
        return _describe(self.session.get_inputs())

    def get_output_types(self) -> list[dict[str, Any]]:
        """Return the outputs for the v2 model metadata."""
        assert self.session is not None
        return _describe(self.session.get_outputs())

    async def predict(
        self,
        payload: InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:
        """Run the session on the request's tensors; binary outputs when asked for."""
        assert self.session is not None
        feeds = {item.name: item.as_numpy() for item in payload.inputs}
        wanted = [out.name for out in payload.request_outputs or []] or [
            out.name for out in self.session.get_outputs()
        ]
        # Off the server's event loop, so requests overlap (the session is thread-safe).
        results = await asyncio.to_thread(self.session.run, wanted, feeds)
        # Binary outputs skip KServe's per-element list conversion, which costs
        # far more than the inference for a detector's ~10^5-element outputs.
        binary = {
            out.name: bool(out.binary_data)
            if out.binary_data is not None
            else payload.use_binary_outputs
            for out in payload.request_outputs or []
        }
        outputs = []
        for name, value in zip(wanted, results, strict=True):
            array = np.asarray(value)
            output = InferOutput(
                name=name,
                shape=list(array.shape),
                datatype=_DATATYPES[f"tensor({_ONNX_NAMES[array.dtype.name]})"],
            )
            output.set_data_from_numpy(
                array, binary_data=binary.get(name, payload.use_binary_outputs)
            )
            outputs.append(output)
        return InferResponse(
            response_id=payload.id or "",
            model_name=self.name,
            infer_outputs=outputs,
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )


_ONNX_NAMES = {
    "float32": "float",
    "float16": "float16",
    "float64": "double",
    "uint8": "uint8",
    "int8": "int8",
    "int32": "int32",
    "int64": "int64",
    "bool": "bool",
}


def main() -> None:
    """Parse KServe's own options plus the model file, and serve until stopped."""
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("model_path")
    parser.add_argument("--threads", type=int, default=2)
    args, _ = parser.parse_known_args()
    model = OnnxModel(args.model_name, args.model_path, args.threads)
    model.load()
    kserve.ModelServer(http_port=args.http_port, enable_grpc=False).start([model])


if __name__ == "__main__":
    main()
