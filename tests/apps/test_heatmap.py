"""Heatmap grid, exports and the dependency-free PNG encoder."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from edgesight.apps.heatmap import Heatmap, colorize, encode_png
from edgesight.core.config import HeatmapConfig
from edgesight.core.detections import Detections
from edgesight.core.events import FrameContext


def test_grid_accumulates_anchor_cells_per_frame() -> None:
    hm = Heatmap(HeatmapConfig(enabled=True, grid=(10, 5), classes=["person"]))
    dets = Detections.from_arrays(
        [[0, 0, 10, 99], [950, 500, 990, 1000], [500, 0, 520, 10]], [0.9] * 3, [0, 0, 2],
        ["person", "person", "car"], [1, 2, 3],
    )
    for i in range(4):
        view = hm.update(dets, FrameContext("c", "m", i, i, (1000, 1000)))
    assert not view.flags.writeable
    grid = hm.grid()
    assert grid.shape == (5, 10) and grid.sum() == 8
    assert grid[0, 0] == 4 and grid[4, 9] == 4  # bottom edge lands in the last row
    assert np.allclose(hm.grid(normalise=True).sum(), 2.0)
    exported = json.loads(json.dumps(hm.to_dict()))
    assert exported["cols"] == 10 and exported["frames"] == 4 and exported["counts"][0][0] == 4
    assert hm.to_csv().splitlines()[0].split(",")[0] == "4"


def test_png_is_valid_and_decodes_to_the_pixels() -> None:
    rgba = colorize(np.arange(6, dtype=float).reshape(2, 3), max_alpha=1.0)
    png = encode_png(rgba)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # walk the chunks, check CRCs, inflate IDAT and compare with the input
    pos, idat, chunks = 8, b"", []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        tag, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + data)
        chunks.append(tag)
        idat += data if tag == b"IDAT" else b""
        pos += 12 + length
    assert chunks == [b"IHDR", b"IDAT", b"IEND"]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(2, 1 + 3 * 4)
    assert np.all(raw[:, 0] == 0) and np.array_equal(raw[:, 1:].reshape(2, 3, 4), rgba)
    assert rgba[0, 0, 3] == 0 and rgba[1, 2, 3] == 255


def test_overlay_scales_to_the_requested_size() -> None:
    hm = Heatmap(HeatmapConfig(enabled=True, grid=(4, 3)))
    png = hm.to_png_overlay((64, 48))
    assert struct.unpack(">II", png[16:24]) == (64, 48)
