"""One BLAS thread for a process that runs the analytics: its matrix products are small.

Every frame the tracker and the stitch multiply matrices of tens of rows (50 tracks x 8 looks
against 50 boxes' colour vectors). OpenBLAS splits such a product over its worker threads, which
then spin waiting for the next one: on a 2-core AMD EPYC (AVX2) that made ``Analytics.update``
over three times dearer in CPU time (7.8 against 2.4 ms a frame with 50 objects,
``bench/apps_bench.py``), and on a device those spinning threads take cycles from the cores the
network sessions own. Limiting BLAS only around the analytics' own calls is not enough: any other
numpy product in the process wakes the workers again (4.1 ms). So the commands that run a device
(``edgesight sense``, ``events``, ``agent``) call :func:`use_one_blas_thread` once, at start; a
program that embeds :class:`~edgesight.apps.engine.Analytics` should do the same.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits

__all__ = ["use_one_blas_thread"]


def use_one_blas_thread() -> None:
    """Cap every BLAS library loaded in this process (numpy's OpenBLAS) to one thread, for good.

    Example:
        >>> import numpy as np
        >>> use_one_blas_thread()
        >>> float((np.ones((64, 64)) @ np.ones((64, 64)))[0, 0])
        64.0
    """
    threadpool_limits(limits=1, user_api="blas")
