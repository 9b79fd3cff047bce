"""ISP: tensors, normalisation, layouts, letterbox padding, and exact box mapping back to the frame."""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt
import pytest

from edgesight.core.errors import ConfigError
from edgesight.core.intrinsics import ColorOrder, InputSpec, Layout, ResizeMode, Tiling
from edgesight.core.region import Region
from edgesight.sensor.isp import BoxTransform, Isp, crop_box, tile_regions
from edgesight.sensor.sources import CropBox, Frame

WHITE_RECT = (141, 97, 377, 301)  # x1, y1, x2, y2 in source pixels (odd edges on purpose)


def rect_frame(width: int = 640, height: int = 480, rect: tuple[int, int, int, int] = WHITE_RECT) -> Frame:
    image = np.zeros((height, width, 3), np.uint8)
    x1, y1, x2, y2 = rect
    image[y1:y2, x1:x2] = 255
    return Frame.from_bgr(0, 0.0, image)


def as_yuv_frame(frame: Frame) -> Frame:
    """The same picture as a decoder would give it: an av.VideoFrame in yuv420p."""
    picture = av.VideoFrame.from_ndarray(frame.to_bgr(), format="bgr24").reformat(format="yuv420p")
    return Frame.from_av(frame.index, frame.timestamp, picture)


def subpixel_box(plane: npt.NDArray[np.float32]) -> tuple[float, float, float, float]:
    """Edges of a bright rectangle in a 0..1 image, to a fraction of a pixel (from edge-pixel coverage)."""
    rows, cols = np.nonzero(plane > 0.5)
    mid_row, mid_col = plane[int(rows.mean())], plane[:, int(cols.mean())]

    def edges(profile: npt.NDArray[np.float32]) -> tuple[float, float]:
        lit = np.nonzero(profile > 0.02)[0]
        first, last = lit[0], lit[-1]
        return first + 1.0 - float(profile[first]), last + float(profile[last])

    x1, x2 = edges(mid_row)
    y1, y2 = edges(mid_col)
    return x1, y1, x2, y2


def unit_plane(tensor: npt.NDArray[np.float32] | npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Channel 0 of an NCHW float tensor made with mean 0, std 255: pixel values in 0..1."""
    return np.asarray(tensor[0, 0], np.float32)


@pytest.mark.parametrize("resize", [ResizeMode.LETTERBOX, ResizeMode.STRETCH])
@pytest.mark.parametrize("roi", [(0.0, 0.0, 1.0, 1.0), (0.1, 0.07, 0.77, 0.8), (0.153, 0.111, 0.6, 0.71)])
@pytest.mark.parametrize("native", [False, True], ids=["bgr-array", "yuv420p"])
def test_box_maps_back_to_the_source_within_a_pixel(
    resize: ResizeMode, roi: tuple[float, float, float, float], native: bool
) -> None:
    spec = InputSpec(width=320, height=256, resize=resize, std=(255.0, 255.0, 255.0), pad_value=0)
    frame = as_yuv_frame(rect_frame()) if native else rect_frame()
    (out,) = Isp(spec, roi=roi).process(frame)
    found = out.transform.to_source([subpixel_box(unit_plane(out.tensor))])[0]
    assert np.abs(found - np.array(WHITE_RECT)).max() < 0.25, (found, WHITE_RECT)  # measured <= 0.03


def test_integer_scale_maps_exactly() -> None:
    spec = InputSpec(width=160, height=160, std=(255.0, 255.0, 255.0))
    frame = rect_frame(rect=(200, 160, 360, 300))
    (out,) = Isp(spec, roi=(0.25, 0.25, 0.5, 0.5)).process(frame)  # crop 320x240 -> 160x120, pad 20 rows
    rows, cols = np.nonzero(unit_plane(out.tensor) > 0.99)
    box_in = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    assert box_in == [20, 40, 100, 110]
    np.testing.assert_array_equal(out.transform.to_source([box_in]), [[200, 160, 360, 300]])


def test_odd_roi_offsets_are_aligned_and_the_transform_uses_the_crop_taken() -> None:
    crop = crop_box(Region(63 / 640, 31 / 480, 0.5, 0.5), 640, 480)
    assert (crop.x % 2, crop.y % 2, crop.width % 2, crop.height % 2) == (0, 0, 0, 0)
    assert crop.x <= 63 and crop.y <= 31 and crop.x2 >= 63 + 320 and crop.y2 >= 31 + 240
    spec = InputSpec(width=crop.width, height=crop.height, resize=ResizeMode.STRETCH)
    (out,) = Isp(spec, roi=(63 / 640, 31 / 480, 0.5, 0.5)).process(rect_frame())
    assert out.transform.to_source([[0, 0, crop.width, crop.height]]).tolist() == [
        [crop.x, crop.y, crop.x2, crop.y2]
    ]


def test_to_source_clips_to_the_frame() -> None:
    transform = BoxTransform(2.0, 2.0, -10.0, -10.0, 100, 50)
    assert transform.to_source([[0, 0, 100, 100]]).tolist() == [[0.0, 0.0, 100.0, 50.0]]
    assert transform.to_source(np.zeros((0, 4))).shape == (0, 4)


def test_letterbox_pads_with_pad_value_in_every_dtype_and_layout() -> None:
    frame = Frame.from_bgr(0, 0.0, np.full((100, 400, 3), 200, np.uint8))  # wide: pads top and bottom
    for layout in Layout:
        raw = Isp(InputSpec(width=64, height=64, layout=layout, pad_value=114)).process(frame)[0].tensor
        rows = raw[0, 0] if layout is Layout.NCHW else raw[0, :, :, 0]
        assert raw.dtype == np.float32
        assert rows[0].tolist() == [114.0] * 64 and rows[-1].tolist() == [114.0] * 64
        assert rows[32].tolist() == [200.0] * 64
        small = Isp(InputSpec(width=64, height=64, layout=layout, dtype="uint8", pad_value=7)).process(frame)
        assert small[0].tensor.dtype == np.uint8 and int(small[0].tensor.min()) == 7
    mean, std = (100.0, 110.0, 120.0), (2.0, 4.0, 8.0)
    normed = Isp(InputSpec(width=64, height=64, mean=mean, std=std)).process(frame)[0].tensor
    np.testing.assert_allclose(normed[0, :, 0, 0], [(114 - m) / s for m, s in zip(mean, std, strict=True)])
    np.testing.assert_allclose(normed[0, :, 32, 32], [(200 - m) / s for m, s in zip(mean, std, strict=True)])


@pytest.mark.parametrize("color", list(ColorOrder))
def test_normalisation_colour_order_and_layouts(color: ColorOrder) -> None:
    image = np.empty((30, 40, 3), np.uint8)
    image[...] = (10, 20, 30)  # B, G, R
    frame = Frame.from_bgr(0, 0.0, image)
    mean, std = (1.0, 2.0, 3.0), (0.5, 2.0, 4.0)
    expected_pixels = (30, 20, 10) if color is ColorOrder.RGB else (10, 20, 30)
    expected = [(p - m) / s for p, m, s in zip(expected_pixels, mean, std, strict=True)]
    nchw = Isp(InputSpec(width=8, height=6, color=color, mean=mean, std=std, resize="stretch")).process(frame)
    nhwc = Isp(
        InputSpec(width=8, height=6, color=color, mean=mean, std=std, resize="stretch", layout="NHWC")
    ).process(frame)
    assert nchw[0].tensor.shape == (1, 3, 6, 8) and nhwc[0].tensor.shape == (1, 6, 8, 3)
    np.testing.assert_allclose(nchw[0].tensor[0, :, 3, 4], expected, rtol=1e-6)
    np.testing.assert_array_equal(nchw[0].tensor.transpose(0, 2, 3, 1), nhwc[0].tensor)
    identity = Isp(InputSpec(width=8, height=6, color=color, resize="stretch")).process(frame)[0].tensor
    assert identity[0, :, 0, 0].tolist() == list(expected_pixels)


def test_yuv_frames_keep_colour_order() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[..., 2] = 255  # red in BGR
    frame = as_yuv_frame(Frame.from_bgr(0, 0.0, image))
    rgb = Isp(InputSpec(width=16, height=16, dtype="uint8")).process(frame)[0].tensor
    bgr = Isp(InputSpec(width=16, height=16, dtype="uint8", color="BGR")).process(frame)[0].tensor
    assert rgb[0, 0, 8, 8] > 230 and rgb[0, 2, 8, 8] < 25
    assert bgr[0, 2, 8, 8] > 230 and bgr[0, 0, 8, 8] < 25


@pytest.mark.parametrize(
    ("roi", "message"),
    [
        ((-0.1, 0.0, 0.5, 0.5), "region x must be in 0..1, got -0.1"),
        ((0.0, 0.0, 0.0, 0.5), "region must not be empty, got w=0.0"),
        ((0.6, 0.0, 0.5, 0.5), r"region x \+ w must be <= 1, got 0.6 \+ 0.5"),
        ((0.0, 0.9, 0.5, 0.2), r"region y \+ h must be <= 1"),
        ((0.0, 0.0, 1.0), r"region must be \(x, y, w, h\), got \(0.0, 0.0, 1.0\)"),
    ],
)
def test_bad_roi_is_a_config_error_naming_the_value(roi: tuple[float, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Isp(InputSpec(width=8, height=8), roi=roi)


def test_uint8_input_with_mean_std_is_rejected() -> None:
    with pytest.raises(ConfigError, match="uint8 takes raw pixels"):
        Isp(InputSpec(width=8, height=8, dtype="uint8", mean=(1.0, 1.0, 1.0)))


def test_tiles_cover_the_roi_with_the_requested_overlap() -> None:
    roi = Region(0.1, 0.2, 0.8, 0.6)
    regions = tile_regions(roi, Tiling(rows=2, cols=3, overlap=0.25, include_full=True))
    assert regions[0] == roi and len(regions) == 1 + 6
    tiles = regions[1:]
    assert min(t.x for t in tiles) == pytest.approx(roi.x)
    assert max(t.x2 for t in tiles) == pytest.approx(roi.x2)
    assert min(t.y for t in tiles) == pytest.approx(roi.y)
    assert max(t.y2 for t in tiles) == pytest.approx(roi.y2)
    left, middle = tiles[0], tiles[1]
    assert (left.x2 - middle.x) / left.w == pytest.approx(0.25)
    assert len({(round(t.w, 9), round(t.h, 9)) for t in tiles}) == 1
    assert tile_regions(roi, Tiling(rows=1, cols=1)) == [roi]
    assert len(tile_regions(roi, Tiling(rows=2, cols=2, include_full=False))) == 4


def test_each_tile_gets_its_own_tensor_and_exact_transform() -> None:
    spec = InputSpec(width=160, height=128, resize=ResizeMode.STRETCH, std=(255.0, 255.0, 255.0))
    isp = Isp(spec, tiling=Tiling(rows=2, cols=2, overlap=0.2, include_full=True))
    frame = rect_frame(rect=(40, 30, 120, 100))  # inside the top-left tile only
    outputs = isp.process(frame)
    assert [o.region for o in outputs] == isp.regions and len(outputs) == 5
    assert isp.last_isp_ms > 0
    top_left = outputs[1]
    found = top_left.transform.to_source([subpixel_box(unit_plane(top_left.tensor))])[0]
    assert np.abs(found - np.array([40, 30, 120, 100])).max() < 1.0
    assert float(outputs[4].tensor.max()) == 0.0  # bottom-right tile sees no rectangle
    assert len({id(o.tensor) for o in outputs}) == 5


def test_buffers_are_reused_only_when_asked() -> None:
    frame = rect_frame()
    reused = Isp(InputSpec(width=32, height=32), reuse_buffers=True)
    assert reused.process(frame)[0].tensor is reused.process(frame)[0].tensor
    fresh = Isp(InputSpec(width=32, height=32))  # the default: safe when tensors wait in a queue
    first, second = fresh.process(frame)[0].tensor, fresh.process(frame)[0].tensor
    assert first is not second
    np.testing.assert_array_equal(first, second)


def test_crop_box_rejects_nothing_valid_and_frame_checks_sizes() -> None:
    assert crop_box(Region.full(), 641, 481) == CropBox(0, 0, 641, 481)
    with pytest.raises(ValueError, match="positive"):
        rect_frame().crop_scale(CropBox(0, 0, 10, 10), (0, 5))


def test_4k_yuv_frame_becomes_the_same_416_tensor_as_its_bgr_picture() -> None:
    """The decoder's fast path (yuv420p scaled inside the conversion) gives the tensor the plain
    path gives for the same 4K picture; its speed is measured in bench/, not here."""
    rng = np.random.default_rng(0)
    # Smooth content (a blurred noise field): the two paths resample chroma differently, so sharp noise would differ.
    coarse = rng.integers(0, 256, (54, 96, 3), np.uint8)
    picture = np.asarray(av.VideoFrame.from_ndarray(coarse, format="bgr24").reformat(3840, 2160).to_ndarray(format="bgr24"))
    isp = Isp(InputSpec(width=416, height=416, mean=(123.7, 116.3, 103.5), std=(58.4, 57.1, 57.4)))
    (fast,) = isp.process(as_yuv_frame(Frame.from_bgr(0, 0.0, picture)))
    (plain,) = isp.process(Frame.from_bgr(0, 0.0, picture))
    assert fast.tensor.shape == plain.tensor.shape == (1, 3, 416, 416) and fast.tensor.dtype == np.float32
    # One 8-bit level is 1/57 in normalised units; yuv420p rounding and chroma subsampling stay within a few.
    assert float(np.median(np.abs(fast.tensor - plain.tensor))) < 3 / 57


def test_region_is_the_one_core_type() -> None:
    """The ROI is one type from the config to the ISP (it moved to core/region.py)."""
    from edgesight.core.config import parse_config

    roi = parse_config({"sensor": {"roi": [0.25, 0, 0.5, 1]}}).sensor.roi
    isp = Isp(InputSpec(width=64, height=64), roi)
    assert type(roi) is Region and isp.roi is roi


@pytest.mark.parametrize("native", [False, True], ids=["bgr-array", "yuv420p"])
def test_4k_tiles_share_one_scaling_and_map_back_exactly(native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two default 4K tiles are cut from one scaled picture, and a person-sized rectangle in
    their overlap maps back from both tiles to where it is in the frame (within one source pixel
    per input pixel, 5 px at this scale)."""
    rect = (1800, 700, 2000, 1300)  # inside both tiles (they overlap around x = 1706..2134)
    frame = rect_frame(3840, 2160, rect)
    frame = as_yuv_frame(frame) if native else frame
    spec = InputSpec(width=416, height=416, resize=ResizeMode.STRETCH, std=(255.0, 255.0, 255.0))
    isp = Isp(spec, auto_tiling=True)
    calls: list[CropBox] = []
    scale = Frame.crop_scale_planes  # an NCHW input takes colour planes
    monkeypatch.setattr(Frame, "crop_scale_planes", lambda self, box, *a: calls.append(box) or scale(self, box, *a))
    outputs = isp.process(frame)
    assert len(outputs) == 2 and calls == [CropBox(0, 0, 3840, 2160)]
    assert outputs[0].tensor is not outputs[1].tensor
    for out in outputs:
        assert out.tensor.shape == (1, 3, 416, 416)
        found = out.transform.to_source([subpixel_box(unit_plane(out.tensor))])[0]
        assert np.abs(found - np.array(rect)).max() < out.transform.scale_x, (found, out.transform)
    left, right = (o.transform.to_source([[0, 0, 416, 416]])[0] for o in outputs)
    assert left[0] == 0 and right[2] == 3840 and right[0] < left[2]  # together they cover the frame
