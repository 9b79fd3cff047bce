"""Opt-in image attachments. Pixels leave the sensor only in the image output modes."""

from __future__ import annotations

import cv2

from edgesight.core.errors import EdgeSightError
from edgesight.core.frame import ImageAttachment, OutputMode
from edgesight.core.intrinsics import ColorOrder
from edgesight.core.region import Region
from edgesight.sensor.isp import crop_box
from edgesight.sensor.sources import Frame

__all__ = ["encode_attachment"]

_JPEG_QUALITY = 80


def encode_attachment(
    frame: Frame,
    mode: OutputMode,
    roi: Region | None,
    width: int,
) -> ImageAttachment | None:
    """The image to attach to a frame's record under ``mode`` (None in metadata-only mode).

    ``metadata+roi-image`` attaches the region of interest scaled to ``width`` pixels wide;
    ``metadata+full-image`` attaches the whole frame at its own size.
    """
    if mode is OutputMode.METADATA:
        return None
    if mode is OutputMode.FULL_IMAGE:
        bgr = frame.to_bgr()
        kind = "full"
    else:
        box = crop_box(Region.from_xywh(roi), frame.width, frame.height)
        out_h = max(2, round(width * box.height / box.width))
        bgr = frame.crop_scale(box, (width, out_h), ColorOrder.BGR)
        kind = "roi"
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise EdgeSightError(f"JPEG encoding of frame {frame.index} failed")
    return ImageAttachment(kind=kind, jpeg=jpeg.tobytes(), size=(bgr.shape[1], bgr.shape[0]))
