"""The pieces both trackers share: rows of parallel arrays, Hungarian matching, ids and states."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgesight.apps.track_rows import (
    INFEASIBLE,
    IdSource,
    KalmanRows,
    TrackState,
    assign,
    concat_rows,
    confirmed_states,
    select_rows,
)
from edgesight.geometry.motion import kalman_initiate


@dataclass(slots=True)
class _Rows(KalmanRows):
    lost: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))


def _rows(ids: list[int], states: list[TrackState]) -> _Rows:
    k = len(ids)
    mean, cov = kalman_initiate(np.array([[10.0 * i, 0, 10.0 * i + 5, 20] for i in range(k)]))
    return _Rows(
        ids=np.array(ids, np.int64),
        mean=mean,
        cov=cov,
        class_id=np.zeros(k, np.int32),
        state=np.array(states, np.int8),
        hits=np.ones(k, np.int32),
        lost=np.arange(k, dtype=np.float64),
    )


def test_select_and_concat_keep_every_field_of_the_subclass_row_aligned() -> None:
    a = _rows([1, -1], [TrackState.TRACKED, TrackState.TENTATIVE])
    b = _rows([5], [TrackState.LOST])
    both = concat_rows(a, b)
    assert type(both) is _Rows
    assert both.ids.tolist() == [1, -1, 5] and both.lost.tolist() == [0.0, 1.0, 0.0]
    assert both.mean.shape == (3, 8) and both.cov.shape == (3, 3, 4)
    kept = select_rows(both, np.array([True, False, True]))
    assert kept.ids.tolist() == [1, 5] and kept.lost.tolist() == [0.0, 0.0]
    assert np.array_equal(kept.mean[1], b.mean[0])
    assert a.ids.tolist() == [1, -1]  # inputs are not modified


def test_confirmed_states_leave_out_tentative_tracks() -> None:
    rows = _rows([3, -1, 4], [TrackState.TRACKED, TrackState.TENTATIVE, TrackState.LOST])
    assert confirmed_states(rows.ids, rows.state) == {3: TrackState.TRACKED, 4: TrackState.LOST}


def test_assign_minimises_total_cost_and_never_returns_an_infeasible_pair() -> None:
    cost = np.array([[0.9, 0.1, INFEASIBLE], [0.2, 0.3, INFEASIBLE], [INFEASIBLE] * 3])
    rows, cols = assign(cost)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]
    empty_rows, empty_cols = assign(np.full((2, 2), INFEASIBLE))
    assert empty_rows.size == 0 and empty_cols.size == 0


def test_ids_are_never_reused() -> None:
    ids = IdSource()
    taken = np.concatenate([ids.take(3), ids.take(0), ids.take(2)])
    assert taken.tolist() == [1, 2, 3, 4, 5]
