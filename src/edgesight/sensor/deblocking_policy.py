"""The default decoding: H.264's deblocking filter runs only where someone can see what it does.

The deblocking (loop) filter of H.264 and HEVC smooths the edges of the codec's 4x4 to 16x16 pixel
blocks. It costs about 1 ms of CPU of the 18 ms it takes to decode a frame of the 4K benchmark
clip, and what it changes lives at the block scale: the ISP then shrinks the frame to the
network's input, averaging areas, and when it shrinks it at least :data:`SKIP_ABOVE` times along
both axes a block edge ends up inside one input pixel. On that clip (two tiles of 2134 x 2160
pixels scaled to 416 x 416: 5.1x) the default model at its 0.45 threshold finds 4,470 of the
4,874 annotated people with 148 false positives without the filter, 4,461 with 157 with it
(``bench/accuracy.py --source bench/out/vtest-4k.mp4 [--deblocking on]``): the same, as closely as
a one-grey-level change of brightness moves these counts. So by default (``sensor.deblocking:
auto``) the decoder skips the filter when every network pass scales the frame down that much, and
keeps it otherwise (768x576, 1080p and 1440p: 1.4x, 2.6x, 3.4x).

Skipping it is not free for the picture: the frames the decoder keeps as references lose the
filter too, so block edges build up until the next key frame. Nobody looks at those frames in the
default metadata-only mode; frames shown to people keep the filter: images attached to records
(the image output modes), ``sense --preview`` and ``sense --annotate`` (``auto`` becomes ``on``
there). ``on`` and ``off`` force it either way.
"""

from __future__ import annotations

from edgesight.core.config.sensor import Deblocking

__all__ = ["SKIP_ABOVE", "Deblocking", "deblocks"]

SKIP_ABOVE = 4.0
"""``auto`` skips the filter when every pass shrinks the frame at least this many times along both
axes (a 16-pixel block becomes at most 4 input pixels, an 8-pixel one at most 2)."""


def deblocks(setting: Deblocking, downscale: float, shown: bool = False) -> bool:
    """Whether the decoder runs its deblocking filter.

    Args:
        setting: ``sensor.deblocking``.
        downscale: the least the ISP shrinks the frame along either axis, over all passes
            (:meth:`Isp.downscale <edgesight.sensor.isp.Isp.downscale>`); 0 if unknown.
        shown: frames are shown to people (image output modes, preview, annotated video).

    Example:
        >>> deblocks("auto", 5.1), deblocks("auto", 1.4), deblocks("auto", 5.1, shown=True)
        (False, True, True)
        >>> deblocks("on", 9.0), deblocks("off", 1.0)
        (True, False)
    """
    if setting != "auto":
        return setting == "on"
    return shown or downscale < SKIP_ABOVE
