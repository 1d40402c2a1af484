"""Run the custom ops' CUDA path under numba's simulator (NUMBA_ENABLE_CUDASIM=1, set by the caller).

Usage: ``python -m tests.transforms._cudasim_run IN.npz OUT.npz``. For each patch in
IN (float32) and its parameter row, writes the CUDA-path result.
"""

from __future__ import annotations

import os
import sys

import numpy as np


def main(src: str, dst: str) -> None:
    assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run me under the CUDA simulator"
    from numba import config, cuda

    from fastmed.transforms.custom import _VoxelRunner
    from tests.transforms._custom_fns import signed_power

    assert config.ENABLE_CUDASIM
    data = np.load(src)
    out = {}
    for name in data.files:
        if not name.startswith("patch"):
            continue
        k = name[len("patch") :]
        vals = tuple(float(v) for v in data["values" + k])
        chans = tuple(int(c) for c in data["channels" + k]) or None
        runner = _VoxelRunner(signed_power, vals, chans)
        dev = cuda.to_device(np.ascontiguousarray(data[name]))
        runner.cuda(dev, int(data["ndim" + k]))
        out["out" + k] = dev.copy_to_host()
    np.savez(dst, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
