"""Pin every thread pool a row may use to the row's thread count, on each call.

Rows of one suite run in the same process: a library left at another row's count would
leak into the next row's timing, so each implementation calls :func:`pin_threads` first.
Only libraries already imported are touched, so a row never pays for importing another.
"""

from __future__ import annotations

import sys


def pin_threads(threads: int) -> None:
    """Set torch, numba, SimpleITK and fastmed thread pools to ``threads``.

    numba cannot exceed the pool it started with (``NUMBA_NUM_THREADS``, the core count by
    default): larger requests are clamped there, which is what a user of numba would get.
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(min(threads, int(numba.config.NUMBA_NUM_THREADS)))
    sitk = sys.modules.get("SimpleITK")
    if sitk is not None:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    fm_native = sys.modules.get("fastmed._native")
    if fm_native is not None:
        fm_native.set_num_threads(threads)
