"""Torso colour vectors on real frames: the same person matches across frames, others less."""

from __future__ import annotations

import csv
from pathlib import Path

import av
import cv2
import numpy as np

from edgesight.sensor.appearance import EMBEDDING_SIZE, frame_histograms, torso_histograms
from edgesight.sensor.sources import CropBox, Frame, open_source, patch_step

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "vtest_people.csv"


def reference_boxes(frame: int) -> dict[int, list[float]]:
    with REFERENCE.open() as f:
        rows = [r for r in csv.reader(f) if r and r[0].isdigit() and int(r[0]) == frame]
    return {int(r[1]): [float(r[2]), float(r[3]), float(r[2]) + float(r[4]), float(r[3]) + float(r[5])] for r in rows}


def read_frame(path: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = capture.read()
    capture.release()
    assert ok, f"could not read frame {index} of {path}"
    return image


def test_each_person_is_most_like_themselves_a_second_later(vtest_path: Path) -> None:
    first, later = reference_boxes(300), reference_boxes(310)
    people = sorted(set(first) & set(later))
    assert len(people) >= 4
    a = torso_histograms(read_frame(vtest_path, 300), [first[p] for p in people])
    b = torso_histograms(read_frame(vtest_path, 310), [later[p] for p in people])
    assert a.shape == (len(people), EMBEDDING_SIZE)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    similarity = a @ b.T
    same = np.diag(similarity)
    assert same.min() > 0.8
    # Most people are their own best match (two in dark clothes may tie: that is why the tracker
    # combines appearance with motion).
    assert np.mean(similarity.argmax(axis=1) == np.arange(len(people))) >= 0.75


def test_boxes_outside_the_frame_get_no_vector() -> None:
    image = np.full((100, 100, 3), 128, np.uint8)
    v = torso_histograms(image, [[200, 200, 240, 300], [10, 10, 50, 90]])
    assert not v[0].any() and v[1].any()


def decoded_frame(path: Path, index: int) -> Frame:
    """Frame ``index`` of ``path`` as the sensor decodes it (a PyAV yuv420p picture)."""
    with open_source(str(path)) as source:
        for frame in source:
            if frame.index == index:
                return frame
    raise AssertionError(f"{path} has no frame {index}")


def variants(frame: Frame) -> dict[str, Frame]:
    """The frame as decoded, three times as large (people 150-390 rows tall, as in 4K), in the
    other planar layouts cameras deliver (full-range 4:2:0 and 4:2:2 from MJPEG, 4:4:4), and in
    nv12 (semi-planar, which takes the whole-frame conversion)."""
    assert isinstance(frame.picture, av.VideoFrame)
    picture = frame.picture
    return {
        "yuv420p": frame,
        "yuv420p x3": Frame.from_av(0, 0.0, picture.reformat(width=picture.width * 3, height=picture.height * 3)),
        **{fmt: Frame.from_av(0, 0.0, picture.reformat(format=fmt)) for fmt in ("yuvj420p", "yuvj422p", "yuv444p", "nv12")},
    }


def test_box_patches_are_the_whole_frame_conversion_cut_out(vtest_path: Path) -> None:
    for name, frame in variants(decoded_frame(vtest_path, 300)).items():
        whole = frame.to_bgr()
        scale = frame.width // 768
        for x, y, w, h in [(101, 57, 33, 91), (400, 200, 60, 130), (0, 0, 17, 9), (740, 540, 28, 36)]:
            box = CropBox(x * scale, y * scale, w * scale, h * scale)
            for max_rows in (0, 64, 128):
                step = patch_step(box.height, max_rows)
                patch = frame.patch_bgr(box, max_rows)
                expected = whole[box.y : box.y2 : step, box.x : box.x2 : step]
                assert patch.shape == expected.shape, (name, box, max_rows)
                difference = np.abs(patch.astype(np.int16) - expected)
                # libswscale rounds its fixed-point conversion differently: a grey level or two.
                assert difference.mean() < 1.5 and difference.max() <= 4, (name, box, max_rows, difference.max())
                assert patch.shape[0] <= max_rows or max_rows == 0


def test_vectors_read_from_the_boxes_alone_match_the_whole_frame_ones(vtest_path: Path) -> None:
    people = reference_boxes(300)
    for name, frame in variants(decoded_frame(vtest_path, 300)).items():
        scale = frame.width / 768
        boxes = np.array(list(people.values())) * scale
        boxes = np.vstack([boxes, [[-20 * scale, 500 * scale, 30 * scale, 600 * scale]]])  # half outside
        fast, whole = frame_histograms(frame, boxes), torso_histograms(frame.to_bgr(), boxes)
        similarity = np.sum(fast * whole, axis=1)
        # A grey level of difference moves some pixels across a bin edge (greys near the saturation
        # floor most): 0.99 typically, 0.97 at worst here, where two people measure 0.5-0.9.
        assert np.median(similarity) > 0.99 and similarity.min() > 0.96, (name, similarity.round(3))
    image = read_frame(vtest_path, 300)  # a BGR frame is read in place: the very same vectors
    np.testing.assert_array_equal(
        frame_histograms(Frame.from_bgr(0, 0.0, image), list(people.values())),
        torso_histograms(image, list(people.values())),
    )
