"""Older binary layouts still decode: the golden tracked frames written in version 1 read back as
the same frames as their version-2 rewrite (only the KPIs travel differently)."""

from __future__ import annotations

import numpy as np

from edgesight.core.wire import BATCH_VERSIONS, decode_batch, encode_batch, read_metadata
from support import REPO

GOLDEN = REPO / "tests" / "data" / "golden"


def test_version_1_golden_frames_decode_like_version_2() -> None:
    v1, v2 = list(read_metadata(GOLDEN / "vtest_tracked_v1.esb")), list(read_metadata(GOLDEN / "vtest_tracked.esb"))
    assert BATCH_VERSIONS == (1, 2)
    # the first batch's version byte, after its 4-byte length and "ESB"
    assert GOLDEN.joinpath("vtest_tracked_v1.esb").read_bytes()[7] == 1
    assert len(v1) == len(v2) == 795
    assert sum(len(m.detections) for m in v1) > 3000
    for a, b in zip(v1, v2, strict=True):
        assert (a.device_id, a.stream_id, a.seq, a.frame_index, a.timestamp, a.model, a.frame_size) == (
            b.device_id, b.stream_id, b.seq, b.frame_index, b.timestamp, b.model, b.frame_size,
        )  # fmt: skip
        assert a.detections.tracker_id is not None and b.detections.tracker_id is not None
        assert a.detections.tracker_id.tolist() == b.detections.tracker_id.tolist()
        # v1 was written with 12-bit boxes, v2 with 11-bit ones: each within half a step of the truth.
        tolerance = max(a.frame_size) * (0.5 / 4095 + 0.5 / 2047) + 1e-6
        np.testing.assert_allclose(a.detections.xyxy, b.detections.xyxy, rtol=0, atol=tolerance)
        np.testing.assert_array_equal(a.detections.confidence, b.detections.confidence)


def test_version_1_kpis_are_per_frame_and_version_2_keeps_their_mean() -> None:
    v1 = list(read_metadata(GOLDEN / "vtest_tracked_v1.esb"))
    assert len({m.kpi for m in v1[:30]}) > 1  # version 1 carried each frame's own
    for batch in (v1[i : i + 30] for i in range(0, 90, 30)):
        again = decode_batch(encode_batch(batch))
        for name in ("isp_ms", "dnn_ms", "post_ms"):
            mean = float(np.mean([getattr(m.kpi, name) for m in batch]))
            assert all(abs(getattr(m.kpi, name) - mean) <= 0.005 + 1e-9 for m in again)
