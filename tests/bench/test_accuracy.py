"""bench/accuracy.py: detections of a clip that shows vtest small inside a larger frame are scored in the reference's pixels."""

from __future__ import annotations

import numpy as np
import pytest

from accuracy import parse_args, to_reference


def test_boxes_of_a_placed_picture_map_back_to_the_reference() -> None:
    # vtest at 2x, its top-left corner at (1152, 504) of a 4K frame: a reference box (10, 20)-(30, 60)
    # is drawn at (1172, 544)-(1212, 624) there.
    got = to_reference(np.array([[1172.0, 544, 1212, 624]]), (1152, 504, 1536, 1152), (768, 576))
    assert np.allclose(got, [[10, 20, 30, 60]])


def test_without_a_placement_the_whole_frame_is_the_reference() -> None:
    got = to_reference(np.array([[384.0, 216, 768, 432]]), (0, 0, 3840, 2160), (768, 576))
    assert np.allclose(got, [[76.8, 57.6, 153.6, 115.2]])


@pytest.mark.parametrize("bad", ["1,2,3", "a,b,c,d", "0,0,0,10"])
def test_a_bad_placement_is_refused_with_the_value(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--placement", bad])
    assert bad in capsys.readouterr().err
