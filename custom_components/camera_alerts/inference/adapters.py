"""Model adapters: pre-processing and decoding for each family of detection model.

An adapter is chosen from the model's inputs and outputs (see
:func:`build_adapter`); each one knows how its family wants the image (letterbox
or plain resize, RGB or BGR, scaling/normalisation) and how to turn the raw
outputs into boxes.

How auto-detection decides (first match wins):

1. Metadata key ``camera_alerts_adapter`` (or ``adapter``) naming an adapter.
2. **nanodet** — two or more pairs of rank-3 outputs ``[1, n, C]`` (scores)
   and ``[1, n, 4 * (R + 1)]`` (distance bins) with the same ``n`` per pair,
   where each ``n`` is the cell count of one stride over the input size.
3. **detr** — outputs named/shaped as ``labels [1, N]``, ``boxes [1, N, 4]``,
   ``scores [1, N]`` (RT-DETR, RT-DETRv2, D-FINE exports; an optional second
   input ``orig_target_sizes`` is fed the network input size).
4. One rank-3 output ``[1, A, B]`` (extra rank-4/5 outputs such as
   segmentation prototypes or per-level raw heads are ignored). With
   ``cells`` = number of grid cells at strides 8/16/32 (or 8/16/32/64) for the
   input size:

   * ``B == 6`` and ``A`` is not a cell/anchor count -> **end2end**
     (YOLOv10, ultralytics ``nms=True``: x1, y1, x2, y2, score, class).
   * ``A < B`` -> **yolov8** (channels first ``[4 + C, N]``; YOLOv8/9/11).
   * ultralytics metadata, ``B == 4 + nc`` and ``A`` not a cell count ->
     **rtdetr_ultralytics** (normalised cx, cy, w, h + sigmoid scores).
   * ``A == 3 * cells`` -> **yolov5** (three anchors per cell: YOLOv5/v7,
     already-decoded boxes).
   * ``A == cells`` -> **yolox** (one prediction per cell with raw,
     grid-relative boxes, YOLOX's default export) -- unless the model says it
     is from ultralytics, then **yolov5**. A YOLOX exported with
     ``--decode_in_inference`` (already decoded boxes) looks the same: load it
     with ``adapter="yolov5"``, or put ``camera_alerts_adapter=yolov5`` in its
     metadata.
   * A dynamic ``A``: the word "yolox" anywhere in the model's producer, graph
     name, description or metadata -> **yolox**; else ``B == 6`` ->
     **end2end**; otherwise -> **yolov5**. A dynamic ``B`` with a fixed ``A``
     -> **yolov8**.

Anything else raises :class:`UnsupportedModelError` naming the inputs and
outputs found.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import logging
import math
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .decoders import (
    Decoded,
    anchor_grid,
    decode_detr,
    decode_detr_dense,
    decode_end2end,
    decode_gfl,
    decode_yolov5,
    decode_yolov8,
    decode_yolox,
    level_shape,
)
from .errors import TensorInfo, UnsupportedModelError
from .preprocess import Layout, PreprocessSpec, ResizeMode

_LOGGER = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

ADAPTER_KEYS = ("camera_alerts_adapter", "adapter")

STRIDE_SETS: tuple[tuple[int, ...], ...] = ((8, 16, 32), (8, 16, 32, 64))

_ELEMENT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(uint8)": "uint8",
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the runtime tells about a model: its tensors and metadata."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)
    producer: str = ""
    graph_name: str = ""
    description: str = ""

    def unsupported(self, reason: str) -> UnsupportedModelError:
        """Build an error that names this model's inputs and outputs."""
        return UnsupportedModelError(reason, self.inputs, self.outputs)

    def mentions(self, word: str) -> bool:
        """Whether ``word`` appears in the producer, graph name, description or metadata."""
        parts = [self.producer, self.graph_name, self.description]
        parts.extend(
            f"{key} {value}" for key, value in self.metadata.items() if key != "names"
        )
        return word in " ".join(parts).lower()

    @property
    def is_ultralytics(self) -> bool:
        """Exported by ultralytics (its metadata has ``author``/``stride``/``names``)."""
        author = self.metadata.get("author", "").lower()
        return "ultralytics" in author or {"stride", "names", "task"} <= set(
            self.metadata
        )


class Thresholds:
    """Per-class minimum scores; ``inf`` disables a class (allow-list)."""

    def __init__(self, table: Sequence[float], default: float) -> None:
        self.table: FloatArray = np.asarray(table, dtype=np.float32).reshape(-1)
        self.default = float(default)
        self._columns: dict[int, FloatArray] = {}

    @property
    def floor(self) -> float:
        """The lowest threshold of any class."""
        if self.table.size == 0:
            return self.default
        return float(min(float(self.table.min()), self.default))

    def columns(self, count: int) -> FloatArray:
        """Thresholds for class columns ``0 .. count - 1`` (padded with the default)."""
        cached = self._columns.get(count)
        if cached is None:
            cached = np.full(count, self.default, dtype=np.float32)
            shared = min(count, self.table.size)
            cached[:shared] = self.table[:shared]
            self._columns[count] = cached
        return cached


@dataclass(frozen=True, slots=True)
class ImageInput:
    """The model's image input."""

    name: str
    layout: Layout
    width: int | None
    height: int | None
    dtype: str


@dataclass(frozen=True, slots=True)
class BuildContext:
    """Everything an adapter needs to set itself up."""

    info: ModelInfo
    image: ImageInput
    num_names: int | None  # class count stated by metadata, if any
    resize_mode: ResizeMode | None

    def size(self, default: int) -> tuple[int, int]:
        """Input ``(width, height)``, with ``default`` for dynamic dimensions."""
        return (self.image.width or default, self.image.height or default)


class ModelAdapter(ABC):
    """Pre-processing and decoding for one family of detection models."""

    name: ClassVar[str]
    needs_nms: ClassVar[bool] = True
    default_size: ClassVar[int] = 640
    default_mode: ClassVar[ResizeMode] = "letterbox"

    def __init__(self, ctx: BuildContext, output_names: Sequence[str]) -> None:
        self.info = ctx.info
        self.input_name = ctx.image.name
        width, height = ctx.size(self.default_size)
        self.spec = self.make_spec(ctx, width, height)
        self.output_names: tuple[str, ...] = tuple(output_names)
        self.num_classes: int | None = ctx.num_names

    @property
    def width(self) -> int:
        """Network input width."""
        return self.spec.width

    @property
    def height(self) -> int:
        """Network input height."""
        return self.spec.height

    def make_spec(self, ctx: BuildContext, width: int, height: int) -> PreprocessSpec:
        """Describe the pre-processing: by default letterbox, RGB, scaled to 0..1 (YOLO)."""
        return PreprocessSpec(
            width=width,
            height=height,
            mode=ctx.resize_mode or self.default_mode,
            rgb=True,
            layout=ctx.image.layout,
            dtype=ctx.image.dtype,
        )

    def feeds(
        self, tensor: npt.NDArray[np.generic]
    ) -> dict[str, npt.NDArray[np.generic]]:
        """Return the inputs of one ``session.run``."""
        return {self.input_name: tensor}

    @abstractmethod
    def decode(
        self, outputs: Sequence[npt.NDArray[np.generic]], thresholds: Thresholds
    ) -> Decoded:
        """Turn the fetched outputs (in ``output_names`` order) into candidates."""

    def _shape_error(self, detail: str) -> UnsupportedModelError:
        return self.info.unsupported(
            f"{self.name} adapter: unexpected output at run time: {detail}"
        )

    def _single(
        self, outputs: Sequence[npt.NDArray[np.generic]], rank: int = 3
    ) -> FloatArray:
        if len(outputs) != 1 or outputs[0].ndim != rank or outputs[0].shape[0] != 1:
            shapes = [tuple(out.shape) for out in outputs]
            raise self._shape_error(
                f"expected one batch-1 rank-{rank} tensor, got {shapes}"
            )
        return np.asarray(outputs[0][0], dtype=np.float32)


def _dims(info: TensorInfo) -> tuple[int | None, ...]:
    return tuple(
        dim if isinstance(dim, int) and dim > 0 else None for dim in info.shape
    )


def _cell_counts(width: int, height: int) -> dict[int, tuple[int, ...]]:
    counts: dict[int, tuple[int, ...]] = {}
    for strides in STRIDE_SETS:
        total = 0
        for stride in strides:
            shape = level_shape(width, height, stride)
            assert shape is not None
            total += shape[0] * shape[1]
        counts.setdefault(total, strides)
    return counts


# --------------------------------------------------------------------------- NanoDet


class NanoDetAdapter(ModelAdapter):
    """NanoDet / GFL heads: per level sigmoid class scores + side-distance distributions."""

    name = "nanodet"
    default_size = 416

    # NanoDet's ImageNet normalisation, BGR order (the model takes BGR).
    MEAN = (103.53, 116.28, 123.675)
    STD = (57.375, 57.12, 58.395)

    def __init__(
        self,
        ctx: BuildContext,
        pairs: Sequence[tuple[TensorInfo, TensorInfo]],
        strides: Sequence[int],
    ) -> None:
        names = [name for pair in pairs for name in (pair[0].name, pair[1].name)]
        super().__init__(ctx, names)
        self.strides = tuple(strides)
        counts = [_dims(score)[1] for score, _ in pairs]
        levels = []
        for stride, count in zip(self.strides, counts, strict=True):
            shape = level_shape(self.width, self.height, stride, count)
            assert shape is not None  # checked by match()
            levels.append((shape[0], shape[1], stride))
        grid, self._strides = anchor_grid(levels, offset=0.5)
        self._centres: FloatArray = grid * self._strides[:, None]
        self.num_classes = _dims(pairs[0][0])[2]

    def make_spec(self, ctx: BuildContext, width: int, height: int) -> PreprocessSpec:
        """Letterbox, BGR, NanoDet mean/std."""
        return PreprocessSpec(
            width=width,
            height=height,
            mode=ctx.resize_mode or self.default_mode,
            rgb=False,
            mean=self.MEAN,
            scale=(1 / self.STD[0], 1 / self.STD[1], 1 / self.STD[2]),
            layout=ctx.image.layout,
            dtype=ctx.image.dtype,
        )

    @classmethod
    def match(cls, ctx: BuildContext) -> NanoDetAdapter | str:
        """Return the adapter for this model, or why it does not fit."""
        outputs = ctx.info.outputs
        if len(outputs) < 4 or len(outputs) % 2:
            return "needs an even number (>= 4) of outputs"
        by_count: dict[int, list[TensorInfo]] = {}
        for out in outputs:
            dims = _dims(out)
            if len(dims) != 3 or dims[1] is None or dims[2] is None:
                return f"output {out.name} is not [1, n, k] with fixed n, k"
            by_count.setdefault(dims[1], []).append(out)
        if any(len(group) != 2 for group in by_count.values()):
            return "outputs do not pair up as (scores, distances) per level"
        pairs: list[tuple[TensorInfo, TensorInfo]] = []
        for count in sorted(by_count, reverse=True):
            first, second = by_count[count]
            k1, k2 = _dims(first)[2], _dims(second)[2]
            assert k1 is not None
            assert k2 is not None

            def is_dist(k: int) -> bool:
                return k % 4 == 0 and k // 4 >= 2

            if is_dist(k2) and (
                not is_dist(k1) or outputs.index(first) < outputs.index(second)
            ):
                pairs.append((first, second))
            elif is_dist(k1):
                pairs.append((second, first))
            else:
                return "no distance-distribution output [1, n, 4 * (reg_max + 1)]"
        if (
            len({_dims(score)[2] for score, _ in pairs}) != 1
            or len({_dims(d)[2] for _, d in pairs}) != 1
        ):
            return "levels disagree on class or bin count"
        width, height = ctx.size(cls.default_size)
        strides: list[int] = []
        for score, _ in pairs:
            level_count = _dims(score)[1]
            assert level_count is not None
            stride = round(math.sqrt(width * height / level_count))
            if level_shape(width, height, stride, level_count) is None:
                return (
                    f"{level_count} cells is not a grid over a {width}x{height} input"
                )
            strides.append(stride)
        return cls(ctx, pairs, strides)

    def decode(
        self, outputs: Sequence[npt.NDArray[np.generic]], thresholds: Thresholds
    ) -> Decoded:
        """Concatenate the levels and decode with :func:`decode_gfl`."""
        if len(outputs) != 2 * len(self.strides):
            raise self._shape_error(
                f"expected {2 * len(self.strides)} outputs, got {len(outputs)}"
            )
        scores = [np.asarray(out[0], dtype=np.float32) for out in outputs[0::2]]
        dists = [np.asarray(out[0], dtype=np.float32) for out in outputs[1::2]]
        cls_scores = np.concatenate(scores) if len(scores) > 1 else scores[0]
        box_dists = np.concatenate(dists) if len(dists) > 1 else dists[0]
        if (
            cls_scores.shape[0] != self._centres.shape[0]
            or box_dists.shape[0] != self._centres.shape[0]
        ):
            raise self._shape_error(
                f"{cls_scores.shape[0]} score rows / {box_dists.shape[0]} box rows "
                f"for {self._centres.shape[0]} cells"
            )
        thr = thresholds.columns(cls_scores.shape[1])
        return decode_gfl(cls_scores, box_dists, self._centres, self._strides, thr)


# --------------------------------------------------------------------------- single-output YOLO family


class SingleOutputAdapter(ModelAdapter):
    """An adapter reading one rank-3 detection output."""

    def __init__(self, ctx: BuildContext, output: TensorInfo) -> None:
        super().__init__(ctx, [output.name])
        self.setup(output)

    def setup(self, output: TensorInfo) -> None:
        """Read what the output's declared shape says (class count)."""


class YoloV8Adapter(SingleOutputAdapter):
    """YOLOv8 / YOLOv9 / YOLO11 (ultralytics): ``[1, 4 + C, N]``."""

    name = "yolov8"

    def setup(self, output: TensorInfo) -> None:
        """Classes = channels - 4 unless the metadata names say otherwise (seg/pose extras)."""
        channels = _dims(output)[1]
        if channels is not None and (
            self.num_classes is None or self.num_classes > channels - 4
        ):
            self.num_classes = channels - 4

    def decode(
        self, outputs: Sequence[npt.NDArray[np.generic]], thresholds: Thresholds
    ) -> Decoded:
        """See :func:`decode_yolov8`."""
        out = self._single(outputs)
        num_classes = min(self.num_classes or out.shape[0], out.shape[0] - 4)
        if num_classes < 1:
            raise self._shape_error(
                f"{out.shape[0]} channels for {num_classes} classes"
            )
        return decode_yolov8(out, thresholds.columns(num_classes), num_classes)


class YoloV5Adapter(SingleOutputAdapter):
    """YOLOv5 / YOLOv7 (decoded boxes, objectness): ``[1, N, 5 + C]``."""

    name = "yolov5"

    def setup(self, output: TensorInfo) -> None:
        """Class count from the row length."""
        row = _dims(output)[2]
        if row is not None:
            self.num_classes = row - 5

    def decode(
        self, outputs: Sequence[npt.NDArray[np.generic]], thresholds: Thresholds
    ) -> Decoded:
        """See :func:`decode_yolov5`."""
        out = self._single(outputs)
        if out.shape[1] < 6:
            raise self._shape_error(f"rows of {out.shape[1]} values (need 5 + classes)")
        return decode_yolov5(out, thresholds.columns(out.shape[1] - 5))


class YoloXAdapter(SingleOutputAdapter):
    """YOLOX (raw grid-relative boxes): ``[1, N, 5 + C]``; BGR 0..255, top-left letterbox."""

    name = "yolox"

    def setup(self, output: TensorInfo) -> None:
        """Class count from the row length; grids for both stride sets."""
        row = _dims(output)[2]
        if row is not None:
            self.num_classes = row - 5
        self._grids: dict[int, tuple[FloatArray, FloatArray]] = {}
        for strides in STRIDE_SETS:
            levels = []
            for stride in strides:
                shape = level_shape(self.width, self.height, stride)
                assert shape is not None
                levels.append((shape[0], shape[1], stride))
            grid, level_strides = anchor_grid(levels, offset=0.0)
            self._grids.setdefault(grid.shape[0], (grid, level_strides))

    def make_spec(self, ctx: BuildContext, width: int, height: int) -> PreprocessSpec:
        """YOLOX's own pre-processing: BGR, no scaling, padded at the bottom/right with 114."""
        return PreprocessSpec(
            width=width,
            height=height,
            mode=ctx.resize_mode or self.default_mode,
            pad_align="topleft",
            rgb=False,
            scale=(1.0, 1.0, 1.0),
            layout=ctx.image.layout,
            dtype=ctx.image.dtype,
        )

    def decode(
        self, outputs: Sequence[npt.NDArray[np.generic]], thresholds: Thresholds
    ) -> Decoded:
        """See :func:`decode_yolox`."""
        out = self._single(outputs)
        grid = self._grids.get(out.shape[0])
        if grid is None or out.shape[1] < 6:
            raise self._shape_error(
                f"{out.shape[0]} rows do not match a stride 8/16/32(/64) grid over "
                f"{self.width}x{self.height}"
            )
        return decode_yolox(out, thresholds.columns(out.shape[1] - 5), grid[0], grid[1])


class End2EndAdapter(SingleOutputAdapter):
    """End-to-end YOLO (YOLOv10, ultralytics ``nms=True``): ``[1, N, 6]`` xyxy, score, class."""

    name = "end2end"
    needs_nms = False

    def decode(
        self, outputs: Sequence[npt.NDArray[np.generic]], thresholds: Thresholds
    ) -> Decoded:
        """See :func:`decode_end2end`."""
        out = self._single(outputs)
        if out.shape[1] != 6:
            raise self._shape_error(f"rows of {out.shape[1]} values (need 6)")
        return decode_end2end(out, thresholds.table, thresholds.default)


class RtDetrUltralyticsAdapter(SingleOutputAdapter):
    """RT-DETR as exported by ultralytics: ``[1, N, 4 + C]``, normalised cx, cy, w, h."""

    name = "rtdetr_ultralytics"
    needs_nms = False
    default_mode: ClassVar[ResizeMode] = "resize"

    def setup(self, output: TensorInfo) -> None:
        """Class count from the row length unless the metadata names say it."""
        row = _dims(output)[2]
        if row is not None and (self.num_classes is None or self.num_classes > row - 4):
            self.num_classes = row - 4

    def decode(
        self, outputs: Sequence[npt.NDArray[np.generic]], thresholds: Thresholds
    ) -> Decoded:
        """See :func:`decode_detr_dense`."""
        out = self._single(outputs)
        num_classes = min(self.num_classes or out.shape[1], out.shape[1] - 4)
        if num_classes < 1:
            raise self._shape_error(
                f"rows of {out.shape[1]} values for {num_classes} classes"
            )
        return decode_detr_dense(
            out, thresholds.columns(num_classes), num_classes, self.width, self.height
        )


SINGLE_OUTPUT: dict[str, type[SingleOutputAdapter]] = {
    cls.name: cls
    for cls in (
        YoloV8Adapter,
        YoloV5Adapter,
        YoloXAdapter,
        End2EndAdapter,
        RtDetrUltralyticsAdapter,
    )
}


def _main_output(info: ModelInfo) -> TensorInfo | str:
    """Find the one rank-3 output; other outputs may only be rank 4/5 side tensors."""
    rank3 = [out for out in info.outputs if len(out.shape) == 3]
    others = [out for out in info.outputs if len(out.shape) not in (3, 4, 5)]
    if len(rank3) != 1 or others:
        return "needs exactly one rank-3 detection output"
    return rank3[0]


def _auto_single(ctx: BuildContext, output: TensorInfo) -> str:
    """Pick a single-output adapter name (see the module docstring)."""
    info = ctx.info
    _, rows, cols = _dims(output)
    width, height = ctx.size(640)
    cells = _cell_counts(width, height)
    anchors = {3 * count for count in cells}
    if rows is not None and cols is not None:
        if cols == 6 and rows not in cells and rows not in anchors:
            return "end2end"
        if rows < cols:
            if rows < 5:
                raise info.unsupported(
                    f"output {output.name}: {rows} channels is too few for boxes + classes"
                )
            return "yolov8"
        if cols < 6:
            raise info.unsupported(
                f"output {output.name}: rows of {cols} values are too short for boxes + classes"
            )
        if (
            info.is_ultralytics
            and ctx.num_names is not None
            and cols == 4 + ctx.num_names
            and rows not in cells
        ):
            return "rtdetr_ultralytics"
        if rows in anchors:
            return "yolov5"
        if rows in cells:
            return "yolov5" if info.is_ultralytics else "yolox"
        raise info.unsupported(
            f"output {output.name} [1, {rows}, {cols}]: {rows} rows match no grid over a "
            f"{width}x{height} input; pass adapter= to say how to read it"
        )
    if rows is not None:
        return "yolov8"
    if cols is not None:
        if cols < 6:
            raise info.unsupported(
                f"output {output.name}: rows of {cols} values are too short"
            )
        if info.mentions("yolox"):
            return "yolox"
        return "end2end" if cols == 6 else "yolov5"
    raise info.unsupported(
        f"output {output.name} has no fixed dimensions; pass adapter= to say how to read it"
    )


# --------------------------------------------------------------------------- DETR family


class DetrAdapter(ModelAdapter):
    """RT-DETR / RT-DETRv2 / D-FINE exports: ``labels``, ``boxes`` (xyxy), ``scores``."""

    name = "detr"
    needs_nms = False
    default_mode: ClassVar[ResizeMode] = "resize"

    def __init__(
        self,
        ctx: BuildContext,
        labels: TensorInfo,
        boxes: TensorInfo,
        scores: TensorInfo,
    ) -> None:
        super().__init__(ctx, [labels.name, boxes.name, scores.name])
        self.size_input: str | None = None
        self._size_tensor: npt.NDArray[np.int64] | None = None
        for item in ctx.info.inputs:
            if item.name == ctx.image.name:
                continue
            self.size_input = item.name
            dtype = np.float32 if "float" in item.type else np.int64
            self._size_tensor = np.array([[self.width, self.height]], dtype=dtype)

    @classmethod
    def match(cls, ctx: BuildContext) -> DetrAdapter | str:
        """Return the adapter for this model, or why it does not fit."""
        info = ctx.info
        if len(info.outputs) != 3:
            return "needs three outputs (labels, boxes, scores)"
        extra = [item for item in info.inputs if item.name != ctx.image.name]
        if len(extra) > 1 or any(len(item.shape) != 2 for item in extra):
            return "extra inputs other than one [1, 2] target-size input"
        named = {out.name.lower(): out for out in info.outputs}
        labels = next(
            (out for key, out in named.items() if "label" in key or "class" in key),
            None,
        )
        boxes = next((out for key, out in named.items() if "box" in key), None)
        scores = next(
            (out for key, out in named.items() if "score" in key or "conf" in key), None
        )
        if (
            not (labels and boxes and scores)
            or len({labels.name, boxes.name, scores.name}) != 3
        ):
            boxes = next((out for out in info.outputs if len(out.shape) == 3), None)
            rank2 = [out for out in info.outputs if len(out.shape) == 2]
            ints = [out for out in rank2 if "int" in out.type]
            floats = [out for out in rank2 if "float" in out.type]
            if boxes is None or len(ints) != 1 or len(floats) != 1:
                return "outputs are not labels [1, N] (int), boxes [1, N, 4], scores [1, N]"
            labels, scores = ints[0], floats[0]
        if len(boxes.shape) != 3 or _dims(boxes)[2] not in (4, None):
            return f"boxes output {boxes.name} is not [1, N, 4]"
        if len(labels.shape) != 2 or len(scores.shape) != 2:
            return "labels/scores outputs are not [1, N]"
        return cls(ctx, labels, boxes, scores)

    def feeds(
        self, tensor: npt.NDArray[np.generic]
    ) -> dict[str, npt.NDArray[np.generic]]:
        """Image plus, when the model has it, the target size (the network input size)."""
        feeds: dict[str, npt.NDArray[np.generic]] = {self.input_name: tensor}
        if self.size_input is not None and self._size_tensor is not None:
            feeds[self.size_input] = self._size_tensor
        return feeds

    def decode(
        self, outputs: Sequence[npt.NDArray[np.generic]], thresholds: Thresholds
    ) -> Decoded:
        """See :func:`decode_detr`."""
        if len(outputs) != 3:
            raise self._shape_error(f"expected 3 outputs, got {len(outputs)}")
        labels, boxes, scores = (np.asarray(out) for out in outputs)
        if (
            boxes.ndim != 3
            or boxes.shape[2] != 4
            or labels.shape != boxes.shape[:2]
            or scores.shape != labels.shape
        ):
            raise self._shape_error(
                f"labels {labels.shape}, boxes {boxes.shape}, scores {scores.shape}"
            )
        box_array = np.asarray(boxes[0], dtype=np.float32)
        scale = (1.0, 1.0)
        if (
            self.size_input is None
            and box_array.size
            and float(np.abs(box_array).max()) <= 1.5
        ):
            scale = (float(self.width), float(self.height))
        return decode_detr(
            labels[0],
            box_array,
            np.asarray(scores[0], dtype=np.float32),
            thresholds.table,
            thresholds.default,
            scale,
        )


# --------------------------------------------------------------------------- selection

ALIASES = {
    "yolo": "yolov8",
    "yolo11": "yolov8",
    "yolov9": "yolov8",
    "ultralytics": "yolov8",
    "yolov7": "yolov5",
    "yolov10": "end2end",
    "rtdetr": "detr",
    "rt_detr": "detr",
    "rtdetrv2": "detr",
    "dfine": "detr",
    "d_fine": "detr",
    "gfl": "nanodet",
}
ADAPTER_NAMES: tuple[str, ...] = ("nanodet", "detr", *SINGLE_OUTPUT)


def normalise_adapter_name(name: str) -> str:
    """Canonical adapter name for ``name`` or an alias; ValueError when unknown."""
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in ADAPTER_NAMES:
        raise ValueError(
            f"unknown adapter {name!r}; choose one of {', '.join(ADAPTER_NAMES)}"
        )
    return key


def _image_input(info: ModelInfo, input_size: tuple[int, int] | None) -> ImageInput:
    images = [item for item in info.inputs if len(item.shape) == 4]
    if len(images) != 1:
        raise info.unsupported(
            "needs exactly one image input of rank 4 ([1, 3, H, W] or [1, H, W, 3])"
        )
    image = images[0]
    dtype = _ELEMENT_TYPES.get(image.type)
    if dtype is None:
        raise info.unsupported(
            f"image input {image.name} has element type {image.type}"
        )
    dims = _dims(image)
    if dims[0] not in (1, None):
        raise info.unsupported(
            f"image input {image.name} has a fixed batch of {dims[0]}"
        )
    layout: Layout
    if dims[1] == 3:
        layout, height, width = "NCHW", dims[2], dims[3]
    elif dims[3] == 3:
        layout, height, width = "NHWC", dims[1], dims[2]
    elif dims[1] is None and dims[3] is None:
        layout, height, width = "NCHW", dims[2], dims[3]
    else:
        raise info.unsupported(f"image input {image.name} has no 3-channel axis")
    if input_size is not None:
        want_w, want_h = input_size
        if (width is not None and width != want_w) or (
            height is not None and height != want_h
        ):
            _LOGGER.warning(
                "Model input %s is fixed at %sx%s; ignoring input_size %sx%s",
                image.name,
                width,
                height,
                want_w,
                want_h,
            )
        width = width or want_w
        height = height or want_h
    if width is None or height is None:
        size = _metadata_size(info.metadata)
        if size is not None:
            width = width or size[0]
            height = height or size[1]
    return ImageInput(image.name, layout, width, height, dtype)


def _metadata_size(metadata: Mapping[str, str]) -> tuple[int, int] | None:
    """``(width, height)`` from ultralytics' ``imgsz`` (``[h, w]``) or ``input_size``."""
    for key in ("imgsz", "input_size", "img_size"):
        if key not in metadata:
            continue
        try:
            value = ast.literal_eval(metadata[key].strip())
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, int) and value > 0:
            return value, value
        if (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(isinstance(v, int) and v > 0 for v in value)
        ):
            return int(value[1]), int(value[0])
    return None


def build_adapter(
    info: ModelInfo,
    *,
    adapter: str | None = None,
    input_size: tuple[int, int] | None = None,
    resize_mode: ResizeMode | None = None,
    num_names: int | None = None,
) -> ModelAdapter:
    """Choose and set up the adapter for a model (see the module docstring for the rules)."""
    task = info.metadata.get("task", "detect").strip().lower()
    if task not in ("detect", "segment", "pose", ""):
        raise info.unsupported(f"the model's task is {task!r}, not object detection")
    image = _image_input(info, input_size)
    ctx = BuildContext(
        info=info, image=image, num_names=num_names, resize_mode=resize_mode
    )
    requested = adapter
    if requested is None:
        for key in ADAPTER_KEYS:
            if key in info.metadata:
                requested = info.metadata[key]
                break
    if requested is not None:
        name = normalise_adapter_name(requested)
        return _build_named(ctx, name)

    nanodet = NanoDetAdapter.match(ctx)
    if isinstance(nanodet, NanoDetAdapter):
        return nanodet
    detr = DetrAdapter.match(ctx)
    if isinstance(detr, DetrAdapter):
        return detr
    if [item for item in info.inputs if len(item.shape) != 4]:
        raise info.unsupported("unexpected extra inputs besides the image")
    main = _main_output(info)
    if isinstance(main, str):
        raise info.unsupported(
            f"not a known detector layout (NanoDet: {nanodet}; DETR: {detr}; single output: {main})"
        )
    name = _auto_single(ctx, main)
    return SINGLE_OUTPUT[name](ctx, main)


def _build_named(ctx: BuildContext, name: str) -> ModelAdapter:
    info = ctx.info
    if name == "nanodet":
        nanodet = NanoDetAdapter.match(ctx)
        if isinstance(nanodet, str):
            raise info.unsupported(f"nanodet adapter requested, but {nanodet}")
        return nanodet
    if name == "detr":
        detr = DetrAdapter.match(ctx)
        if isinstance(detr, str):
            raise info.unsupported(f"detr adapter requested, but {detr}")
        return detr
    main = _main_output(info)
    if isinstance(main, str):
        raise info.unsupported(f"{name} adapter requested, but the model {main}")
    if len(info.inputs) != 1:
        raise info.unsupported(
            f"{name} adapter requested, but the model has extra inputs"
        )
    dims = _dims(main)
    if name == "end2end" and dims[2] not in (6, None):
        raise info.unsupported(
            f"end2end adapter requested, but rows of {main.name} have {dims[2]} values, not 6"
        )
    if name in ("yolov5", "yolox") and dims[2] is not None and dims[2] < 6:
        raise info.unsupported(
            f"{name} adapter requested, but rows of {main.name} have only {dims[2]} values"
        )
    if name == "yolov8" and dims[1] is not None and dims[1] < 5:
        raise info.unsupported(
            f"yolov8 adapter requested, but {main.name} has only {dims[1]} channels"
        )
    return SINGLE_OUTPUT[name](ctx, main)
