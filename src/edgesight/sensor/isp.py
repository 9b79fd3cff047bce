"""ISP stage: from a decoded frame to the network's input tensor, and the way back for boxes.

Like the IMX500's ISP: crop the region of interest, resize it to the input (letterbox or
stretch), order the colours, normalise ``(pixel - mean) / std``, cast, lay out NCHW or NHWC
with a batch dimension of 1. Cropping, scaling and colour conversion happen in one pass of
:meth:`Frame.crop_scale` (libswscale for decoded video); an NCHW input takes the picture as colour
planes (:meth:`Frame.crop_scale_planes`), which normalise into the tensor plane by plane at half
the cost of reading interleaved pixels across channels. Each tensor comes with the
:class:`BoxTransform` that maps boxes found in it back to source-frame pixels exactly.

Tiles of one grid share one scaling: the ISP scales the tiles' bounding box once, to the size that
gives each tile the input's size, and cuts the tiles out of that picture. Two overlapping 4K tiles
cost about 4 ms of CPU that way against 7.3 ms scaled one by one (they overlap by a fifth, and each
scaling pass has a fixed cost).

Regions are normalised ``(x, y, w, h)`` on the full frame. They are turned into pixel crops
aligned to even pixels (so 4:2:0 chroma crops cleanly); the transform uses the crop actually
taken, so the mapping stays exact whatever the alignment did.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgesight.core.errors import ConfigError
from edgesight.core.intrinsics import InputSpec, Layout, ResizeMode, Tiling
from edgesight.core.region import Region
from edgesight.sensor.sources import CropBox, Frame
from edgesight.sensor.tiling_policy import auto_tiling

__all__ = ["BoxTransform", "Isp", "IspOutput", "crop_box", "input_geometry", "tile_regions"]

Tensor = npt.NDArray[np.float32] | npt.NDArray[np.uint8]
Picture = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]
"""A scaled picture: colour planes (for an NCHW input) or ``(h, w, 3)`` interleaved pixels."""

_CROP_ALIGN = 2
_MAX_FRAME_SIZES = 4
"""Frame sizes whose plans (and buffers) an Isp keeps; image folders may mix sizes."""


@dataclass(frozen=True, slots=True)
class BoxTransform:
    """Maps boxes from input-tensor pixels to source-frame pixels: ``src = input * scale + offset``.

    Attributes:
        scale_x: source pixels per input pixel, horizontally.
        scale_y: source pixels per input pixel, vertically.
        offset_x: source x of input x = 0.
        offset_y: source y of input y = 0.
        frame_width: source frame width, for clipping.
        frame_height: source frame height, for clipping.

    Example:
        >>> t = BoxTransform(2.0, 2.0, 10.0, -4.0, 100, 100)
        >>> t.to_source(np.array([[0, 4, 20, 60]])).tolist()
        [[10.0, 4.0, 50.0, 100.0]]
    """

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    frame_width: int
    frame_height: int

    def to_source(self, xyxy: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """``(n, 4)`` boxes in input pixels -> ``(n, 4)`` float32 source pixels, clipped to the frame."""
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        out = boxes * (self.scale_x, self.scale_y, self.scale_x, self.scale_y)
        out += (self.offset_x, self.offset_y, self.offset_x, self.offset_y)
        np.clip(out[:, 0::2], 0.0, self.frame_width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0.0, self.frame_height, out=out[:, 1::2])
        return out.astype(np.float32)


@dataclass(frozen=True, slots=True)
class IspOutput:
    """One network input.

    Attributes:
        tensor: ``(1, 3, H, W)`` (NCHW) or ``(1, H, W, 3)`` (NHWC) in the spec's dtype.
        transform: maps boxes found in ``tensor`` back to source-frame pixels.
        region: the normalised region of the frame the tensor shows.
    """

    tensor: Tensor
    transform: BoxTransform
    region: Region


def crop_box(region: Region, width: int, height: int, align: int = _CROP_ALIGN) -> CropBox:
    """The pixel crop of ``region`` on a ``width`` x ``height`` frame, widened to ``align`` pixels.

    Edges are floored/ceiled outward to whole pixels, then the top-left corner down and the
    bottom-right corner up to multiples of ``align`` (as far as the frame allows).

    Example:
        >>> crop_box(Region(0.1, 0.1, 0.5, 0.5), 101, 51)
        CropBox(x=10, y=4, width=52, height=28)
    """
    x0 = math.floor(region.x * width + 1e-6)
    y0 = math.floor(region.y * height + 1e-6)
    x1 = min(width, math.ceil(region.x2 * width - 1e-6))
    y1 = min(height, math.ceil(region.y2 * height - 1e-6))
    x0 -= x0 % align
    y0 -= y0 % align
    x1 = min(width, x1 + (-x1) % align)
    y1 = min(height, y1 + (-y1) % align)
    return CropBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def input_geometry(crop: CropBox, spec: InputSpec) -> tuple[tuple[int, int], tuple[int, int]]:
    """Where the scaled crop lands in the input: ``((content_w, content_h), (pad_x, pad_y))``.

    Example:
        >>> spec = InputSpec(width=416, height=416)
        >>> input_geometry(CropBox(0, 0, 3840, 2160), spec)
        ((416, 234), (0, 91))
    """
    if spec.resize is ResizeMode.STRETCH:
        return (spec.width, spec.height), (0, 0)
    scale = min(spec.width / crop.width, spec.height / crop.height)
    content_w = min(spec.width, max(1, round(crop.width * scale)))
    content_h = min(spec.height, max(1, round(crop.height * scale)))
    return (content_w, content_h), ((spec.width - content_w) // 2, (spec.height - content_h) // 2)


def tile_regions(roi: Region, tiling: Tiling) -> list[Region]:
    """The sub-regions the network runs on: the ROI (if ``include_full``) then ``rows x cols`` tiles.

    Tiles overlap their neighbours by ``tiling.overlap`` of a tile's size and together cover
    the ROI exactly. A 1 x 1 tiling is just the ROI.

    Example:
        >>> tiles = tile_regions(Region.full(), Tiling(rows=1, cols=2, overlap=0.2, include_full=True))
        >>> [(round(t.x, 4), round(t.w, 4)) for t in tiles]
        [(0.0, 1.0), (0.0, 0.5556), (0.4444, 0.5556)]
    """
    if tiling.rows == 1 and tiling.cols == 1:
        return [roi]
    tile_w = roi.w / (tiling.cols - (tiling.cols - 1) * tiling.overlap)
    tile_h = roi.h / (tiling.rows - (tiling.rows - 1) * tiling.overlap)
    step_x, step_y = tile_w * (1.0 - tiling.overlap), tile_h * (1.0 - tiling.overlap)
    tiles = []
    for row in range(tiling.rows):
        for col in range(tiling.cols):
            x = roi.x + col * step_x
            y = roi.y + row * step_y
            tiles.append(Region(x, y, min(tile_w, 1.0 - x), min(tile_h, 1.0 - y)))
    return [roi, *tiles] if tiling.include_full else tiles


@dataclass(slots=True)
class _Plan:
    """Everything about one region that depends only on the frame size, computed once."""

    region: Region
    crop: CropBox
    content_size: tuple[int, int]
    pad: tuple[int, int]
    transform: BoxTransform
    buffer: Tensor | None = field(default=None, repr=False)
    cut: tuple[int, int] | None = None
    """Top-left corner of this tile in its grid's shared scaled picture, or None (scaled alone)."""


@dataclass(frozen=True, slots=True)
class _SharedScale:
    """One scaling of a tile grid's bounding box, which every tile of the grid is cut from."""

    crop: CropBox
    size: tuple[int, int]


class Isp:
    """The ISP of one network: configured once, then ``process(frame)`` per frame.

    Args:
        spec: the network's input (size, layout, dtype, colour order, resize, normalisation).
        roi: normalised ``(x, y, w, h)`` region of interest on the full frame; None = full frame.
        tiling: optional tiles of the ROI, each giving its own tensor.
        auto_tiling: without ``tiling``, choose tiles per frame size with
            :func:`~edgesight.sensor.tiling_policy.auto_tiling` (tiles only for an ROI much
            larger than the input, such as 4K); False runs the ROI whole.
        reuse_buffers: write each region's tensor into the same buffer on every call, so a
            tensor is only valid until the next ``process``. Only for loops that consume each
            tensor before the next frame; the default (False) gives every call new tensors,
            which is safe when tensors wait in a queue for another thread (costs ~0.1 ms).

    Raises:
        ConfigError: for a bad ROI, or a uint8 input with a mean/std other than 0/1.

    Example:
        >>> isp = Isp(InputSpec(width=8, height=8, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0)))
        >>> frame = Frame.from_bgr(0, 0.0, np.full((16, 32, 3), 255, np.uint8))
        >>> (out,) = isp.process(frame)
        >>> out.tensor.shape, float(out.tensor[0, 0, 4, 4]), round(float(out.tensor[0, 0, 0, 0]), 3)
        ((1, 3, 8, 8), 1.0, 0.447)
        >>> out.transform.to_source([[0, 2, 8, 6]]).tolist()
        [[0.0, 0.0, 32.0, 16.0]]
    """

    def __init__(
        self,
        spec: InputSpec,
        roi: Region | Sequence[float] | None = None,
        tiling: Tiling | None = None,
        reuse_buffers: bool = False,
        auto_tiling: bool = False,
    ) -> None:
        identity = spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0)
        if spec.dtype == "uint8" and not identity:
            raise ConfigError(
                f"input dtype uint8 takes raw pixels: mean/std must be 0/1, got mean {list(spec.mean)} "
                f"std {list(spec.std)}"
            )
        self.spec = spec
        self.roi = Region.from_xywh(roi)
        self.regions = tile_regions(self.roi, tiling) if tiling is not None else [self.roi]
        self._auto = auto_tiling and tiling is None
        self._reuse = reuse_buffers
        self._identity = identity
        std = np.asarray(spec.std, np.float32)
        self._scale = (1.0 / std).astype(np.float32)
        self._bias = (-np.asarray(spec.mean, np.float32) / std).astype(np.float32)
        self._pad = (spec.pad_value - np.asarray(spec.mean, np.float32)) / std
        self._plans: dict[tuple[int, int], tuple[list[_Plan], _SharedScale | None]] = {}
        self._last_ms = 0.0

    @property
    def last_isp_ms(self) -> float:
        """Milliseconds the last :meth:`process` call took (the ``isp_ms`` KPI)."""
        return self._last_ms

    def process(self, frame: Frame) -> list[IspOutput]:
        """One input tensor per region (the ROI, or the ROI then its tiles), with box transforms."""
        start = time.perf_counter()
        plans, shared = self._planned(frame.width, frame.height)
        picture = None if shared is None else self._scaled(frame, shared.crop, shared.size)
        outputs = [IspOutput(self._tensor(frame, plan, picture), plan.transform, plan.region) for plan in plans]
        self._last_ms = (time.perf_counter() - start) * 1e3
        return outputs

    def downscale(self, width: int, height: int) -> float:
        """The least any pass shrinks a ``width`` x ``height`` frame, along either axis (what the
        decoding policy of :mod:`~edgesight.sensor.deblocking_policy` looks at).

        Example:
            >>> isp = Isp(InputSpec(width=416, height=416, resize="stretch"), auto_tiling=True)
            >>> round(isp.downscale(3840, 2160), 2), round(isp.downscale(768, 576), 2)
            (5.13, 1.38)
        """
        plans, _ = self._planned(width, height)
        return min(
            min(plan.crop.width / plan.content_size[0], plan.crop.height / plan.content_size[1])
            for plan in plans
        )

    def _planned(self, width: int, height: int) -> tuple[list[_Plan], _SharedScale | None]:
        """The plans of a frame size (and the tiles' shared scaling), made on first use."""
        planned = self._plans.get((width, height))
        if planned is None:
            plans = [self._plan(region, width, height) for region in self.regions_for(width, height)]
            planned = plans, _share_scaling(plans, width, height)
            if len(self._plans) >= _MAX_FRAME_SIZES:
                del self._plans[next(iter(self._plans))]
            self._plans[(width, height)] = planned
        return planned

    def regions_for(self, width: int, height: int) -> list[Region]:
        """The regions a ``width`` x ``height`` frame is run on: the ROI, or the ROI's tiles.

        Example:
            >>> isp = Isp(InputSpec(width=416, height=416), auto_tiling=True)
            >>> len(isp.regions_for(768, 576)), len(isp.regions_for(3840, 2160))
            (1, 2)
        """
        if not self._auto:
            return self.regions
        crop = crop_box(self.roi, width, height)
        return tile_regions(self.roi, auto_tiling(crop.width, crop.height, self.spec))

    def _plan(self, region: Region, width: int, height: int) -> _Plan:
        crop = crop_box(region, width, height)
        (content_w, content_h), (pad_x, pad_y) = input_geometry(crop, self.spec)
        scale_x, scale_y = crop.width / content_w, crop.height / content_h
        transform = BoxTransform(
            scale_x, scale_y, crop.x - pad_x * scale_x, crop.y - pad_y * scale_y, width, height
        )
        return _Plan(region, crop, (content_w, content_h), (pad_x, pad_y), transform)

    def _new_buffer(self, filled: bool) -> Tensor:
        """A tensor for one region; ``filled``: the content covers it all, so no padding is written."""
        spec = self.spec
        nchw = spec.layout is Layout.NCHW
        shape = (1, 3, spec.height, spec.width) if nchw else (1, spec.height, spec.width, 3)
        if filled and spec.dtype == "uint8":
            return np.empty(shape, np.uint8)
        if filled:
            return np.empty(shape, np.float32)
        if spec.dtype == "uint8":
            return np.full(shape, spec.pad_value, np.uint8)
        buffer = np.empty(shape, np.float32)
        buffer[...] = self._pad.reshape(3, 1, 1) if nchw else self._pad
        return buffer

    def _scaled(self, frame: Frame, crop: CropBox, size: tuple[int, int]) -> Picture:
        """``crop`` of ``frame`` scaled to ``size``: colour planes for NCHW, else interleaved."""
        if self.spec.layout is Layout.NCHW:
            return frame.crop_scale_planes(crop, size, self.spec.color)
        return frame.crop_scale(crop, size, self.spec.color)

    def _tensor(self, frame: Frame, plan: _Plan, shared: Picture | None) -> Tensor:
        """``plan``'s tensor; its content is cut from ``shared`` (the grid's scaled picture) if it has
        a place there, else scaled from the frame."""
        (w, h), cut = plan.content_size, plan.cut
        if cut is not None and shared is not None:
            content = _cut(shared, cut[0], cut[1], w, h)
        else:
            content = self._scaled(frame, plan.crop, plan.content_size)
        filled = plan.content_size == (self.spec.width, self.spec.height)
        buffer = plan.buffer if self._reuse and plan.buffer is not None else self._new_buffer(filled)
        if self._reuse:
            plan.buffer = buffer
        x, y = plan.pad
        if isinstance(content, tuple):  # NCHW: plane by plane, each contiguous
            for channel, plane in enumerate(content):
                self._normalise(plane, buffer[0, channel, y : y + h, x : x + w], channel)
        else:
            self._normalise(content, buffer[0, y : y + h, x : x + w, :], None)
        return buffer

    def _normalise(self, source: npt.NDArray[np.uint8], target: Tensor, channel: int | None) -> None:
        """``target = (source - mean) / std`` of one plane (``channel``) or of interleaved pixels."""
        if self._identity:
            np.copyto(target, source, casting="unsafe")
            return
        scale = self._scale if channel is None else self._scale[channel]
        bias = self._bias if channel is None else self._bias[channel]
        np.multiply(source, scale, out=target)
        np.add(target, bias, out=target)


def _cut(picture: Picture, x: int, y: int, w: int, h: int) -> Picture:
    """The ``w`` x ``h`` window at ``(x, y)`` of a scaled picture (planes or interleaved), as views."""
    if isinstance(picture, tuple):
        first, second, third = (plane[y : y + h, x : x + w] for plane in picture)
        return first, second, third
    return picture[y : y + h, x : x + w]


def _share_scaling(plans: list[_Plan], width: int, height: int) -> _SharedScale | None:
    """Let the tiles of a grid share one scaling (updates their ``cut`` and ``transform``).

    The tiles of a grid have the same crop and content size, so one scale factor; the ROI plan of
    ``include_full`` (another factor) keeps its own scaling. Each tile is cut from the scaled
    bounding box at the nearest whole pixel, and its transform describes that cut exactly.
    """
    groups: dict[tuple[int, int, tuple[int, int]], list[_Plan]] = {}
    for plan in plans:
        groups.setdefault((plan.crop.width, plan.crop.height, plan.content_size), []).append(plan)
    grid = max(groups.values(), key=len)
    if len(grid) < 2:
        return None
    x0, y0 = min(p.crop.x for p in grid), min(p.crop.y for p in grid)
    box = CropBox(x0, y0, max(p.crop.x2 for p in grid) - x0, max(p.crop.y2 for p in grid) - y0)
    (content_w, content_h), crop = grid[0].content_size, grid[0].crop
    # Even sizes keep libswscale on its fast paths (an odd width doubles its time).
    size = (
        max(content_w, _even(box.width * content_w / crop.width)),
        max(content_h, _even(box.height * content_h / crop.height)),
    )
    scale_x, scale_y = box.width / size[0], box.height / size[1]
    for plan in grid:
        # Tiles on the far edge are cut flush with it, so the grid still covers the whole box.
        far_x, far_y = plan.crop.x2 == box.x2, plan.crop.y2 == box.y2
        cut_x = size[0] - content_w if far_x else min(round((plan.crop.x - box.x) / scale_x), size[0] - content_w)
        cut_y = size[1] - content_h if far_y else min(round((plan.crop.y - box.y) / scale_y), size[1] - content_h)
        pad_x, pad_y = plan.pad
        plan.cut = (cut_x, cut_y)
        plan.transform = BoxTransform(
            scale_x, scale_y, box.x + (cut_x - pad_x) * scale_x, box.y + (cut_y - pad_y) * scale_y, width, height
        )
    return _SharedScale(box, size)


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))
