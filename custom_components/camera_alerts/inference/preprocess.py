"""Turning a BGR frame (or a crop of it) into the model's input tensor, and back.

Kept cheap on purpose: one ``cv2.resize`` to the target size, one
``cv2.copyMakeBorder`` for the letterbox padding and one fused
``cv2.dnn.blobFromImageWithParams`` call for channel swap, mean/scale
normalisation and the HWC->CHW transpose.

Where OpenCV is missing (HA OS and the HA container are musl-based and PyPI
has no musl wheel for it) the same steps run with Pillow (bilinear resize)
and numpy, so the remote backend works there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

try:
    import cv2

    HAVE_OPENCV = True
except ImportError:  # musl: no OpenCV wheel; Pillow and numpy below
    HAVE_OPENCV = False

ResizeMode = Literal["letterbox", "resize"]
PadAlign = Literal["center", "topleft"]
Layout = Literal["NCHW", "NHWC"]

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class PreprocessSpec:
    """How one model wants its input prepared."""

    width: int
    height: int
    mode: ResizeMode = "letterbox"
    pad_value: float = 114.0
    pad_align: PadAlign = "center"
    rgb: bool = True
    # Per-channel (x - mean) * scale, in the channel order the model expects.
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1 / 255, 1 / 255, 1 / 255)
    layout: Layout = "NCHW"
    dtype: str = "float32"


@dataclass(frozen=True, slots=True)
class Transform:
    """Maps model-input pixels back to frame pixels: ``x = (mx - pad_x) / scale_x + offset_x``."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    offset_x: float
    offset_y: float
    # The area of the frame the input came from (the crop), in frame pixels.
    clip_x1: float
    clip_y1: float
    clip_x2: float
    clip_y2: float

    def to_frame(self, boxes: FloatArray) -> FloatArray:
        """Map ``[K, 4]`` xyxy model-input boxes into frame pixels, clipped to the crop."""
        out = np.empty_like(boxes)
        out[:, 0::2] = (boxes[:, 0::2] - self.pad_x) / self.scale_x + self.offset_x
        out[:, 1::2] = (boxes[:, 1::2] - self.pad_y) / self.scale_y + self.offset_y
        np.clip(out[:, 0::2], self.clip_x1, self.clip_x2, out=out[:, 0::2])
        np.clip(out[:, 1::2], self.clip_y1, self.clip_y2, out=out[:, 1::2])
        return out


def clamp_region(
    region: tuple[float, float, float, float] | None,
    frame_width: int,
    frame_height: int,
) -> tuple[int, int, int, int]:
    """Clamp an ``(x, y, w, h)`` region into the frame; None means the whole frame.

    A region larger than the frame shrinks to the frame; one partly outside is
    moved inside where it fits, otherwise cut at the border.
    """
    if region is None:
        return 0, 0, frame_width, frame_height
    x, y, w, h = region
    w_i = max(1, min(round(w), frame_width))
    h_i = max(1, min(round(h), frame_height))
    x_i = min(max(round(x), 0), frame_width - w_i)
    y_i = min(max(round(y), 0), frame_height - h_i)
    return x_i, y_i, w_i, h_i


def as_bgr(frame: npt.NDArray[Any]) -> ImageArray:
    """Validate a frame and return it as 8-bit, 3-channel BGR (no copy when it already is)."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, not {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        if not HAVE_OPENCV:
            return np.repeat(frame[:, :, None], 3, axis=2)
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame.astype(np.uint8, copy=False)
    if frame.ndim == 3 and frame.shape[2] == 4:
        if not HAVE_OPENCV:
            return np.ascontiguousarray(frame[:, :, :3])
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    raise ValueError(
        f"frame must be HxWx3 BGR (or HxW grey, HxWx4 BGRA), got shape {frame.shape}"
    )


def prepare(
    spec: PreprocessSpec,
    frame: ImageArray,
    region: tuple[int, int, int, int],
) -> tuple[npt.NDArray[np.generic], Transform]:
    """Build the input tensor for ``frame[region]`` and the transform back to frame pixels."""
    rx, ry, rw, rh = region
    crop = frame[ry : ry + rh, rx : rx + rw]
    if spec.mode == "letterbox":
        ratio = min(spec.width / rw, spec.height / rh)
        new_w = min(spec.width, max(1, round(rw * ratio)))
        new_h = min(spec.height, max(1, round(rh * ratio)))
        scale_x = new_w / rw
        scale_y = new_h / rh
        if spec.pad_align == "center":
            left = (spec.width - new_w) // 2
            top = (spec.height - new_h) // 2
        else:
            left = top = 0
        right = spec.width - new_w - left
        bottom = spec.height - new_h - top
    else:
        new_w, new_h = spec.width, spec.height
        scale_x, scale_y = spec.width / rw, spec.height / rh
        left = top = right = bottom = 0

    resized = _resize(crop, new_w, new_h) if (new_w, new_h) != (rw, rh) else crop
    image: ImageArray
    if not HAVE_OPENCV:
        image = np.full((spec.height, spec.width, 3), round(spec.pad_value), np.uint8)
        image[top : top + new_h, left : left + new_w] = resized
    elif left or top or right or bottom:
        pad = (spec.pad_value, spec.pad_value, spec.pad_value)
        image = np.asarray(
            cv2.copyMakeBorder(
                resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=pad
            ),
            dtype=np.uint8,
        )
    else:
        image = np.ascontiguousarray(resized, dtype=np.uint8)

    transform = Transform(
        scale_x=scale_x,
        scale_y=scale_y,
        pad_x=float(left),
        pad_y=float(top),
        offset_x=float(rx),
        offset_y=float(ry),
        clip_x1=float(rx),
        clip_y1=float(ry),
        clip_x2=float(rx + rw),
        clip_y2=float(ry + rh),
    )
    return _to_tensor(spec, image), transform


def _resize(crop: ImageArray, width: int, height: int) -> ImageArray:
    if HAVE_OPENCV:
        return np.asarray(
            cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR),
            dtype=np.uint8,
        )
    resized = Image.fromarray(np.ascontiguousarray(crop)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.uint8)


def _to_tensor_numpy(spec: PreprocessSpec, image: ImageArray) -> npt.NDArray[np.generic]:
    pixels = image[:, :, ::-1] if spec.rgb else image
    if spec.dtype == "uint8":
        tensor: npt.NDArray[np.generic] = np.asarray(pixels, dtype=np.uint8)[None]
    else:
        mean = np.asarray(spec.mean, dtype=np.float32)
        scale = np.asarray(spec.scale, dtype=np.float32)
        normalised = (pixels.astype(np.float32) - mean) * scale
        tensor = normalised.astype(np.dtype(spec.dtype))[None]
    if spec.layout == "NCHW":
        tensor = tensor.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(tensor)


def _to_tensor(spec: PreprocessSpec, image: ImageArray) -> npt.NDArray[np.generic]:
    if not HAVE_OPENCV:
        return _to_tensor_numpy(spec, image)
    if spec.dtype == "uint8":
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if spec.rgb else image
        tensor = np.asarray(pixels, dtype=np.uint8)[None]
        if spec.layout == "NCHW":
            return np.ascontiguousarray(tensor.transpose(0, 3, 1, 2))
        return tensor
    # The mean/scale are given in the model's channel order; blobFromImage applies
    # them after swapping, so they are passed through unchanged.
    params = cv2.dnn.Image2BlobParams(
        scalefactor=spec.scale,
        size=(spec.width, spec.height),
        mean=spec.mean,
        swapRB=spec.rgb,
        ddepth=cv2.CV_32F,
        datalayout=cv2.dnn.DNN_LAYOUT_NCHW
        if spec.layout == "NCHW"
        else cv2.dnn.DNN_LAYOUT_NHWC,
    )
    blob = np.asarray(cv2.dnn.blobFromImageWithParams(image, params), dtype=np.float32)
    if spec.dtype == "float16":
        return blob.astype(np.float16)
    return blob


def encode_jpeg(
    image: ImageArray, quality: int, *, opencv: bool = HAVE_OPENCV
) -> bytes | None:
    """Encode a BGR (or BGRA, or grey) image as JPEG; None when it cannot be encoded.

    With OpenCV where asked (and imported), else with Pillow.
    """
    if opencv:
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return bytes(buffer) if ok else None
    # Pillow works in RGB; JPEG has no alpha.
    pixels = np.ascontiguousarray(image[:, :, 2::-1]) if image.ndim == 3 else image
    out = BytesIO()
    try:
        Image.fromarray(pixels).save(out, format="JPEG", quality=quality)
    except (OSError, ValueError, TypeError):
        return None
    return out.getvalue()
