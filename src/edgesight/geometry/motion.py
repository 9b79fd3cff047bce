"""Constant-velocity Kalman filter over boxes, batched over all tracks at once.

State per track: ``[cx, cy, w, h, vcx, vcy, vw, vh]`` in pixels and pixels per frame; measurement:
``[cx, cy, w, h]``. Noise scales with the box size, as in ByteTrack / BoT-SORT.

With diagonal process and measurement noise, each measured coordinate evolves independently with
its velocity, so the 8x8 covariance is block diagonal: one 2x2 ``(position, velocity)`` block per
coordinate. It is stored as ``(n, 3, 4)``: ``[:, 0]`` position variances, ``[:, 1]``
position-velocity covariances and ``[:, 2]`` velocity variances of ``cx, cy, w, h``. This is the
exact filter, with element-wise arithmetic instead of matrix products and inverses.
Every function is pure: it returns new arrays and leaves its inputs untouched.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "kalman_initiate",
    "kalman_predict",
    "kalman_update",
    "state_to_xyxy",
    "xyxy_to_cxcywh",
]

Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160


def xyxy_to_cxcywh(xyxy: npt.ArrayLike) -> Float64Array:
    """Boxes ``[x1, y1, x2, y2]`` to ``[cx, cy, w, h]``.

    Example:
        >>> xyxy_to_cxcywh([[0, 0, 10, 20]]).tolist()
        [[5.0, 10.0, 10.0, 20.0]]
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    centre = (b[:, :2] + b[:, 2:]) / 2
    return np.concatenate([centre, b[:, 2:] - b[:, :2]], axis=1)


def state_to_xyxy(mean: Float64Array) -> Float64Array:
    """Boxes ``xyxy`` of Kalman states ``(n, 8)`` (sizes clipped to at least 1e-3 px).

    Example:
        >>> m, _ = kalman_initiate(np.array([[0.0, 0, 10, 20]]))
        >>> state_to_xyxy(m).tolist()
        [[0.0, 0.0, 10.0, 20.0]]
    """
    half = np.maximum(mean[:, 2:4], 1e-3) / 2
    return np.concatenate([mean[:, :2] - half, mean[:, :2] + half], axis=1)


def _size_scale(mean: Float64Array) -> Float64Array:
    """``(n, 4)`` = ``[w, h, w, h]`` of each state, at least 1 px."""
    wh = np.maximum(mean[:, 2:4], 1.0)
    return np.concatenate([wh, wh], axis=1)


def kalman_initiate(xyxy: Float64Array) -> tuple[Float64Array, Float64Array]:
    """Initial states of new tracks: measured box, zero velocity, wide velocity uncertainty.

    Args:
        xyxy: ``(n, 4)`` boxes.

    Returns:
        ``(mean (n, 8), covariance blocks (n, 3, 4))``.

    Example:
        >>> m, c = kalman_initiate(np.array([[0.0, 0, 10, 20]]))
        >>> m.shape, c.shape
        ((1, 8), (1, 3, 4))
    """
    z = xyxy_to_cxcywh(xyxy)
    n = z.shape[0]
    mean = np.zeros((n, 8), dtype=np.float64)
    mean[:, :4] = z
    scale = _size_scale(mean)
    cov = np.zeros((n, 3, 4), dtype=np.float64)
    cov[:, 0] = (2 * STD_WEIGHT_POSITION * scale) ** 2
    cov[:, 2] = (10 * STD_WEIGHT_VELOCITY * scale) ** 2
    return mean, cov


def kalman_predict(
    mean: Float64Array, cov: Float64Array, freeze_size: BoolArray | None = None, steps: float = 1.0
) -> tuple[Float64Array, Float64Array]:
    """Advance states by ``steps`` frames with constant velocity.

    Args:
        mean: ``(n, 8)`` states.
        cov: ``(n, 3, 4)`` covariance blocks.
        freeze_size: ``(n,)`` tracks whose size velocity is zeroed first (lost tracks, so their
            predicted boxes do not grow or shrink through a long gap).
        steps: frame periods elapsed (fractional when the frame rate varies, 3.0 when two frames
            were dropped); process noise grows linearly with it, as for a random walk.

    Returns:
        New ``(mean, covariance)``.

    Example:
        >>> m, c = kalman_initiate(np.array([[0.0, 0, 10, 10]]))
        >>> m[0, 4] = 2.0  # moving right 2 px per frame
        >>> kalman_predict(m, c)[0][0, :2].tolist()
        [7.0, 5.0]
    """
    m = mean.copy()
    if freeze_size is not None and np.any(freeze_size):
        m[freeze_size, 6:8] = 0.0
    scale = _size_scale(m)
    pxx, pxv, pvv = cov[:, 0], cov[:, 1], cov[:, 2]
    new_cov = np.empty_like(cov)
    if steps == 1.0:  # the per-frame filter, kept operation for operation (replays stay bit-exact)
        m[:, :4] += m[:, 4:]
        new_cov[:, 0] = pxx + 2 * pxv + pvv + (STD_WEIGHT_POSITION * scale) ** 2
        new_cov[:, 1] = pxv + pvv
        new_cov[:, 2] = pvv + (STD_WEIGHT_VELOCITY * scale) ** 2
        return m, new_cov
    m[:, :4] += steps * m[:, 4:]
    new_cov[:, 0] = pxx + 2 * steps * pxv + steps**2 * pvv + steps * (STD_WEIGHT_POSITION * scale) ** 2
    new_cov[:, 1] = pxv + steps * pvv
    new_cov[:, 2] = pvv + steps * (STD_WEIGHT_VELOCITY * scale) ** 2
    return m, new_cov


def kalman_update(
    mean: Float64Array, cov: Float64Array, xyxy: Float64Array
) -> tuple[Float64Array, Float64Array]:
    """Correct predicted states with measured boxes (row ``i`` with box ``i``).

    Args:
        mean: ``(n, 8)`` predicted states.
        cov: ``(n, 3, 4)`` predicted covariance blocks.
        xyxy: ``(n, 4)`` measured boxes.

    Returns:
        New ``(mean, covariance)``.

    Example:
        >>> m, c = kalman_initiate(np.array([[0.0, 0, 10, 10]]))
        >>> m2, _ = kalman_update(*kalman_predict(m, c), np.array([[2.0, 0, 12, 10]]))
        >>> bool(0 < m2[0, 4] <= 2.0)  # it learnt a rightward velocity
        True
    """
    z = xyxy_to_cxcywh(xyxy)
    r = (STD_WEIGHT_POSITION * _size_scale(mean)) ** 2
    pxx, pxv, pvv = cov[:, 0], cov[:, 1], cov[:, 2]
    s = pxx + r
    k_pos, k_vel = pxx / s, pxv / s
    innovation = z - mean[:, :4]
    new_mean = np.concatenate([mean[:, :4] + k_pos * innovation, mean[:, 4:] + k_vel * innovation], axis=1)
    new_cov = np.empty_like(cov)
    new_cov[:, 0] = (1 - k_pos) * pxx
    new_cov[:, 1] = (1 - k_pos) * pxv
    new_cov[:, 2] = pvv - k_vel * pxv
    return new_mean, new_cov
