"""Cheap appearance vectors for the tracker: colour histograms of each box's torso, on the device.

The tracker needs something that tells two people apart when their boxes overlap or one
reappears after an occlusion. A re-id network would cost more than the detector on a small CPU;
the colour of the clothes is nearly free and separates most pairs of passers-by. Each vector is
a joint hue x saturation histogram plus a value (brightness) histogram of the torso (the middle
of the box: legs swing and heads are small, so both are left out), square-rooted and L2
normalised so that the dot product of two vectors is their Bhattacharyya coefficient (1 = same
colours). Low-saturation pixels carry no reliable hue, so they vote in the value bins only.

The vectors are computed from the frame the sensor already decoded, reading only the boxes'
pixels (:func:`frame_histograms`: a decoded 4K frame is never converted whole, which cost 4-5 ms
a frame), and travel beside the detections in-process (:attr:`Detections.embedding`); no
serializer writes them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.sensor.sources import CropBox, Frame, patch_step

__all__ = ["EMBEDDING_SIZE", "frame_histograms", "torso_histograms"]

_HUE_BINS, _SAT_BINS, _VAL_BINS = 8, 3, 8
_PART_SIZE = _HUE_BINS * _SAT_BINS + _VAL_BINS
# Body parts as fractions of the box (x from the left, y from the top): the torso (upper
# clothing) and the thighs (lower clothing). Heads are small and feet blur, so both are left out.
_PARTS = (((0.25, 0.75), (0.18, 0.50)), ((0.25, 0.75), (0.55, 0.80)))
EMBEDDING_SIZE = _PART_SIZE * len(_PARTS)
_MIN_SATURATION = 40  # of 255: below it a pixel's hue is noise (greys, black, white)
# A box is read at most this many rows tall: a part then still has hundreds of pixels for its 32
# bins, and a person 700 pixels tall in a 4K frame costs no more than one of 128 (every pixel of
# vtest.avi's people, 50-130 rows, is read).
_PATCH_ROWS = 128


def frame_histograms(frame: Frame, xyxy: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """:func:`torso_histograms` of the boxes of a decoded frame, reading only their pixels.

    Args:
        frame: the frame the boxes were found in.
        xyxy: ``(n, 4)`` boxes in the frame's pixels.

    Returns:
        As :func:`torso_histograms`.

    Example:
        >>> img = np.zeros((100, 100, 3), np.uint8); img[:, :50] = (0, 0, 255)
        >>> frame = Frame.from_bgr(0, 0.0, img)
        >>> boxes = [[0, 0, 50, 100], [50, 0, 100, 100]]
        >>> bool(np.allclose(frame_histograms(frame, boxes), torso_histograms(img, boxes)))
        True
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if isinstance(frame.picture, np.ndarray):  # already BGR: read in place
        return torso_histograms(frame.picture, boxes)
    out = np.zeros((boxes.shape[0], EMBEDDING_SIZE), dtype=np.float32)
    for i, box in enumerate(boxes):
        x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        x1, y1 = min(frame.width, math.ceil(box[2])), min(frame.height, math.ceil(box[3]))
        if x1 <= x0 or y1 <= y0:
            continue
        crop = CropBox(x0, y0, x1 - x0, y1 - y0)
        patch = frame.patch_bgr(crop, max_rows=_PATCH_ROWS)
        step = patch_step(crop.height, _PATCH_ROWS)
        # The box in the patch's pixels: the parts stay the same fractions of the whole box.
        local = (box - (x0, y0, x0, y0)) / step
        out[i] = torso_histograms(patch, local[None])[0]
    return out


def torso_histograms(image_bgr: npt.NDArray[np.uint8], xyxy: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """One appearance vector per box, from the colours of the upper and the lower clothing.

    Args:
        image_bgr: ``(h, w, 3)`` uint8 frame, BGR.
        xyxy: ``(n, 4)`` boxes in the frame's pixels.

    Returns:
        ``(n, EMBEDDING_SIZE)`` float32 unit vectors; a box with no pixels inside the frame gets
        zeros (the tracker then ignores its appearance).

    Example:
        >>> img = np.zeros((100, 100, 3), np.uint8)
        >>> img[:, :50] = (0, 0, 255)  # red left half
        >>> img[:, 50:] = (255, 0, 0)  # blue right half: same brightness, other hue
        >>> v = torso_histograms(img, [[0, 0, 50, 100], [50, 0, 100, 100], [0, 0, 50, 100]])
        >>> float(round(v[0] @ v[1], 3)), float(round(v[0] @ v[2], 3))
        (0.5, 1.0)
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((boxes.shape[0], EMBEDDING_SIZE), dtype=np.float32)
    for p, (xs, ys) in enumerate(_PARTS):
        out[:, p * _PART_SIZE : (p + 1) * _PART_SIZE] = _part_histograms(image_bgr, boxes, xs, ys)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)
    return unit


def _part_histograms(
    image_bgr: npt.NDArray[np.uint8], boxes: npt.NDArray[np.float64], xs: tuple[float, float], ys: tuple[float, float]
) -> npt.NDArray[np.float32]:
    """Square-rooted, unit hue x saturation + value histograms of one part of every box."""
    out = np.zeros((boxes.shape[0], _PART_SIZE), dtype=np.float32)
    h, w = image_bgr.shape[:2]
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    x0 = np.clip(boxes[:, 0] + xs[0] * width, 0, w).astype(np.int64)
    x1 = np.clip(boxes[:, 0] + xs[1] * width, 0, w).astype(np.int64)
    y0 = np.clip(boxes[:, 1] + ys[0] * height, 0, h).astype(np.int64)
    y1 = np.clip(boxes[:, 1] + ys[1] * height, 0, h).astype(np.int64)
    for i in range(boxes.shape[0]):
        if x1[i] <= x0[i] or y1[i] <= y0[i]:
            continue
        hsv = cv2.cvtColor(image_bgr[y0[i] : y1[i], x0[i] : x1[i]], cv2.COLOR_BGR2HSV).reshape(-1, 3)
        hue, sat, val = hsv[:, 0].astype(np.int64), hsv[:, 1].astype(np.int64), hsv[:, 2].astype(np.int64)
        coloured = sat >= _MIN_SATURATION
        # OpenCV's 8-bit hue is 0..179; saturation bins cover the coloured range only.
        hs = (hue[coloured] * _HUE_BINS // 180) * _SAT_BINS + (
            (sat[coloured] - _MIN_SATURATION) * _SAT_BINS // (256 - _MIN_SATURATION)
        )
        vec = np.bincount(hs, minlength=_HUE_BINS * _SAT_BINS).astype(np.float64)
        vec = np.concatenate([vec, np.bincount(val * _VAL_BINS // 256, minlength=_VAL_BINS)])
        vec = np.sqrt(vec / max(hue.shape[0], 1))
        norm = np.linalg.norm(vec)
        if norm > 0:
            out[i] = vec / norm
    return out
