"""`Frame`: one decoded picture, kept in the decoder's native format until someone asks for pixels.

A PyAV frame stays a ``av.VideoFrame`` (usually yuv420p): the ISP asks for a crop of it scaled to
the network's input and converted to RGB/BGR in one libavfilter pass (crop, then swscale, which
scales inside its colour conversion). Converting a 4K frame to full-size BGR first and resizing
afterwards costs about ten times more. Frames from OpenCV (cameras, image files) are BGR arrays
and take the numpy view + ``cv2.resize`` + ``cv2.cvtColor`` path behind the same methods.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
from av.filter import Graph

from edgesight.core.intrinsics import ColorOrder

__all__ = ["CropBox", "Frame", "ScalerCache", "patch_step"]

UInt8Image = npt.NDArray[np.uint8]
Planes = tuple[UInt8Image, UInt8Image, UInt8Image]
"""Three ``(height, width)`` colour planes, in the colour order asked for."""

_GRAPH_TIME_BASE = Fraction(1, 1000)
_PLANAR_YUV = {
    "yuv420p": (2, 2), "yuvj420p": (2, 2), "yuv422p": (2, 1), "yuvj422p": (2, 1),
    "yuv444p": (1, 1), "yuvj444p": (1, 1),
}  # fmt: skip
"""Planar 8-bit YCbCr formats :meth:`Frame.patch_bgr` converts itself, with the pixels each chroma
sample spans across and down (H.264/HEVC decoders give 4:2:0, MJPEG cameras 4:2:2)."""
_FULL_RANGE_FORMATS = ("yuvj420p", "yuvj422p", "yuvj444p")
_FULL_RANGE = 2
"""FFmpeg's AVCOL_RANGE_JPEG: samples span 0-255 rather than the studio range 16-235."""


@dataclass(frozen=True, slots=True)
class CropBox:
    """A rectangle of source-frame pixels: columns ``x..x+width``, rows ``y..y+height``.

    Example:
        >>> CropBox(2, 4, 10, 6).x2
        12
    """

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.x < 0 or self.y < 0 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"CropBox needs x, y >= 0 and width, height > 0, got {self}")

    @property
    def x2(self) -> int:
        """Right edge (exclusive) in pixels."""
        return self.x + self.width

    @property
    def y2(self) -> int:
        """Bottom edge (exclusive) in pixels."""
        return self.y + self.height


class ScalerCache:
    """Configured libavfilter graphs (crop -> scale -> pixel format), reused from frame to frame.

    A source owns one cache and hands it to its frames, so building a graph happens once per
    geometry, not once per frame. Least recently used graphs are dropped beyond ``max_graphs``.

    Example:
        >>> cache = ScalerCache(max_graphs=2)
        >>> len(cache)
        0
    """

    def __init__(self, max_graphs: int = 32) -> None:
        self._graphs: OrderedDict[tuple[Any, ...], Graph] = OrderedDict()
        self._max = max_graphs
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._graphs)

    def run(self, picture: av.VideoFrame, box: CropBox, size: tuple[int, int], pix_fmt: str) -> UInt8Image:
        """Crop ``box`` out of ``picture``, scale it to ``size`` (w, h) and convert it to ``pix_fmt``."""
        return np.asarray(self.filter(picture, box, size, pix_fmt).to_ndarray(), dtype=np.uint8)

    def filter(self, picture: av.VideoFrame, box: CropBox, size: tuple[int, int], pix_fmt: str) -> av.VideoFrame:
        """Like :meth:`run`, but the filtered picture as a PyAV frame (its planes not copied)."""
        full = box.x == 0 and box.y == 0 and box.width == picture.width and box.height == picture.height
        key = (picture.width, picture.height, picture.format.name, None if full else box, size, pix_fmt)
        with self._lock:
            graph = self._graphs.get(key)
            if graph is None:
                graph = _build_graph(picture, None if full else box, size, pix_fmt)
                self._graphs[key] = graph
                if len(self._graphs) > self._max:
                    self._graphs.popitem(last=False)
            else:
                self._graphs.move_to_end(key)
            graph.push(picture)
            out = graph.pull()
        assert isinstance(out, av.VideoFrame)
        return out


def _build_graph(picture: av.VideoFrame, box: CropBox | None, size: tuple[int, int], pix_fmt: str) -> Graph:
    graph = Graph()
    chain = [
        graph.add_buffer(
            width=picture.width, height=picture.height, format=picture.format, time_base=_GRAPH_TIME_BASE
        )
    ]
    src_w, src_h = (picture.width, picture.height) if box is None else (box.width, box.height)
    if box is not None:
        chain.append(graph.add("crop", f"{box.width}:{box.height}:{box.x}:{box.y}:exact=1"))
    flags = "area" if size[0] <= src_w and size[1] <= src_h else "bilinear"
    chain.append(graph.add("scale", f"{size[0]}:{size[1]}:flags={flags}"))
    chain.append(graph.add("format", pix_fmt))
    chain.append(graph.add("buffersink"))
    for upstream, downstream in itertools.pairwise(chain):
        upstream.link_to(downstream)
    graph.configure()
    return graph


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture and when it was captured.

    Build frames with :meth:`from_av` (PyAV decoders) or :meth:`from_bgr` (OpenCV).

    Attributes:
        index: 0-based position in decode order among the frames the source delivered (skipped
            corrupt frames take no index; indexes keep counting across stream reconnects).
        timestamp: capture time, Unix seconds (UTC).
        picture: the decoder's native picture: an ``av.VideoFrame`` (not converted) or an
            ``(h, w, 3)`` uint8 BGR array.

    Example:
        >>> f = Frame.from_bgr(0, 1.7e9, np.zeros((48, 64, 3), np.uint8))
        >>> f.width, f.height, f.crop_scale(CropBox(0, 0, 32, 48), (16, 24)).shape
        (64, 48, (24, 16, 3))
    """

    index: int
    timestamp: float
    picture: av.VideoFrame | UInt8Image
    scalers: ScalerCache | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_av(
        cls, index: int, timestamp: float, picture: av.VideoFrame, scalers: ScalerCache | None = None
    ) -> Frame:
        """Wrap a PyAV frame without converting it; ``scalers`` is the owning source's graph cache."""
        return cls(index, timestamp, picture, scalers if scalers is not None else ScalerCache(max_graphs=4))

    @classmethod
    def from_bgr(cls, index: int, timestamp: float, image: UInt8Image) -> Frame:
        """Wrap an ``(h, w, 3)`` uint8 BGR array (OpenCV's native order).

        Raises:
            ValueError: if ``image`` is not an ``(h, w, 3)`` uint8 array.
        """
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"Frame.from_bgr needs an (h, w, 3) uint8 array, got {image.shape} {image.dtype}"
            )
        return cls(index, timestamp, image)

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        if isinstance(self.picture, np.ndarray):
            return int(self.picture.shape[1])
        return int(self.picture.width)

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        if isinstance(self.picture, np.ndarray):
            return int(self.picture.shape[0])
        return int(self.picture.height)

    def to_bgr(self) -> UInt8Image:
        """The whole frame as a new ``(height, width, 3)`` uint8 BGR array (opt-in image output only).

        Example:
            >>> Frame.from_bgr(0, 0.0, np.full((4, 6, 3), 7, np.uint8)).to_bgr()[0, 0].tolist()
            [7, 7, 7]
        """
        if isinstance(self.picture, np.ndarray):
            return self.picture.copy()
        return np.asarray(self.picture.to_ndarray(format="bgr24"), dtype=np.uint8)

    def patch_bgr(self, box: CropBox, max_rows: int = 0) -> UInt8Image:
        """The pixels of ``box`` as a small BGR array, every ``step``-th row and column.

        For measurements per object (the tracker's colour histograms): converting a whole 4K frame
        to BGR to read a few boxes costs 4-5 ms of CPU, converting the boxes alone a few hundredths
        of that. ``step`` is :func:`patch_step`: 1, or the least even step that leaves at most
        ``max_rows`` rows (``max_rows`` 0: every pixel).
        Planar YCbCr pictures (4:2:0 from H.264 and HEVC decoders, 4:2:2 from MJPEG cameras, 4:4:4)
        are converted from the box's part of their planes (BT.601, the studio or full range they
        are in, the chroma sample that covers each pixel); any other picture format (semi-planar
        nv12, RGB) takes the whole-frame conversion first.

        Raises:
            ValueError: if ``box`` reaches outside the frame.

        Example:
            >>> img = np.zeros((40, 8, 3), np.uint8); img[..., 0] = 200   # blue in BGR
            >>> patch = Frame.from_bgr(0, 0.0, img).patch_bgr(CropBox(2, 0, 4, 40), max_rows=10)
            >>> patch.shape, patch[0, 0].tolist()
            ((10, 1, 3), [200, 0, 0])
        """
        self._check(box, (1, 1))
        step = patch_step(box.height, max_rows)
        window = (slice(box.y, box.y2, step), slice(box.x, box.x2, step))
        picture = self.picture
        if isinstance(picture, np.ndarray) or picture.format.name not in _PLANAR_YUV:
            image = picture if isinstance(picture, np.ndarray) else self.to_bgr()
            return np.ascontiguousarray(image[window])
        luma = _plane(picture, 0)[window].astype(np.float32)
        across, down = _PLANAR_YUV[picture.format.name]
        chroma: tuple[Any, ...]
        if step == 1:  # the chroma sample that covers each pixel
            chroma = np.ix_(np.arange(box.y, box.y2) // down, np.arange(box.x, box.x2) // across)
        else:  # an even step: the rows and columns kept fall on every (step / span)-th chroma sample
            chroma = (slice(box.y // down, None, step // down), slice(box.x // across, None, step // across))
        height, width = luma.shape
        cb = _plane(picture, 1)[chroma][:height, :width].astype(np.float32)
        cr = _plane(picture, 2)[chroma][:height, :width].astype(np.float32)
        cb -= 128.0
        cr -= 128.0
        if picture.format.name not in _FULL_RANGE_FORMATS and int(picture.color_range) != _FULL_RANGE:
            luma -= 16.0
            luma *= 255.0 / 219.0
            cb *= 255.0 / 224.0
            cr *= 255.0 / 224.0
        luma += 0.5  # round, not truncate, on the cast below
        bgr = np.empty((height, width, 3), np.float32)
        np.add(luma, 1.772 * cb, out=bgr[..., 0])
        np.subtract(luma, 0.344136 * cb + 0.714136 * cr, out=bgr[..., 1])
        np.add(luma, 1.402 * cr, out=bgr[..., 2])
        return np.clip(bgr, 0, 255).astype(np.uint8)

    def crop_scale(
        self, box: CropBox, size: tuple[int, int], color: ColorOrder = ColorOrder.RGB
    ) -> UInt8Image:
        """Crop ``box``, scale it to ``size`` = (width, height) and convert to ``color``, in one pass.

        PyAV frames go through a cached libavfilter graph (crop + swscale + pixel format); BGR
        arrays through a numpy view, ``cv2.resize`` and ``cv2.cvtColor``. Downscaling averages
        areas, upscaling is bilinear.

        Returns:
            A new ``(height, width, 3)`` uint8 array in ``color`` order.

        Raises:
            ValueError: if ``box`` reaches outside the frame or ``size`` is not positive.

        Example:
            >>> img = np.zeros((8, 8, 3), np.uint8); img[..., 2] = 255   # red in BGR
            >>> Frame.from_bgr(0, 0.0, img).crop_scale(CropBox(2, 2, 4, 4), (2, 2))[0, 0].tolist()
            [255, 0, 0]
        """
        self._check(box, size)
        if isinstance(self.picture, np.ndarray):
            return _crop_scale_array(self.picture, box, size, color)
        scalers = self.scalers if self.scalers is not None else ScalerCache(max_graphs=1)
        return scalers.run(self.picture, box, size, "rgb24" if color is ColorOrder.RGB else "bgr24")

    def crop_scale_planes(
        self, box: CropBox, size: tuple[int, int], color: ColorOrder = ColorOrder.RGB
    ) -> Planes:
        """:meth:`crop_scale` as three ``(height, width)`` colour planes in ``color`` order.

        Planar is what an NCHW network takes: normalising contiguous planes into the tensor costs
        half of what reading the interleaved picture across its channels does. PyAV frames come out
        of libswscale as planar GBR (no slower than packed BGR) and are not copied: the planes are
        views of the filtered picture.

        Raises:
            ValueError: as :meth:`crop_scale`.

        Example:
            >>> img = np.zeros((8, 8, 3), np.uint8); img[..., 2] = 255   # red in BGR
            >>> r, g, b = Frame.from_bgr(0, 0.0, img).crop_scale_planes(CropBox(2, 2, 4, 4), (2, 2))
            >>> r.tolist(), b.tolist()
            ([[255, 255], [255, 255]], [[0, 0], [0, 0]])
        """
        self._check(box, size)
        if isinstance(self.picture, np.ndarray):
            scaled = _crop_scale_array(self.picture, box, size, color)
            first, second, third = (np.ascontiguousarray(scaled[..., channel]) for channel in range(3))
            return first, second, third
        scalers = self.scalers if self.scalers is not None else ScalerCache(max_graphs=1)
        picture = scalers.filter(self.picture, box, size, "gbrp")
        green, blue, red = (_plane(picture, i) for i in range(3))
        return (red, green, blue) if color is ColorOrder.RGB else (blue, green, red)

    def _check(self, box: CropBox, size: tuple[int, int]) -> None:
        if box.x2 > self.width or box.y2 > self.height:
            raise ValueError(f"crop {box} reaches outside the {self.width}x{self.height} frame")
        if size[0] <= 0 or size[1] <= 0:
            raise ValueError(f"scale size must be positive (width, height), got {size}")


def patch_step(height: int, max_rows: int) -> int:
    """The step :meth:`Frame.patch_bgr` reads a ``height``-row box with: 1, or the least even step
    that leaves at most ``max_rows`` rows (0: no limit). Even, so that the rows and columns kept
    fall on whole chroma samples of subsampled (4:2:0, 4:2:2) pictures.

    Example:
        >>> patch_step(100, 128), patch_step(300, 128), patch_step(700, 128), patch_step(700, 0)
        (1, 4, 6, 1)
    """
    if max_rows <= 0 or height <= max_rows:
        return 1
    step = -(-height // max_rows)
    return step + step % 2


def _plane(picture: av.VideoFrame, index: int) -> UInt8Image:
    """Plane ``index`` of a planar 8-bit ``picture`` as a view (rows padded to ``line_size``)."""
    plane = picture.planes[index]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def _crop_scale_array(
    image: UInt8Image, box: CropBox, size: tuple[int, int], color: ColorOrder
) -> UInt8Image:
    view = image[box.y : box.y2, box.x : box.x2]
    if (box.width, box.height) == size:
        scaled: UInt8Image = view.copy()
    else:
        down = size[0] <= box.width and size[1] <= box.height
        interpolation = cv2.INTER_AREA if down else cv2.INTER_LINEAR
        scaled = np.asarray(cv2.resize(view, size, interpolation=interpolation), dtype=np.uint8)
    if color is ColorOrder.RGB:
        return np.asarray(cv2.cvtColor(scaled, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    return scaled
