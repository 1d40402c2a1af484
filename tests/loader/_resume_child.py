"""Child process of the resume test: load a saved loader state into a NEW loader and finish the epoch.

Usage: python -m tests.loader._resume_child STATE_IN BATCHES_OUT NUM_WORKERS [patches]
"""

from __future__ import annotations

import sys

import torch

from tests.loader._resume_config import make_loader, make_patch_loader


def main() -> None:
    state_path, out_path, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    loader = (make_patch_loader if sys.argv[4:] == ["patches"] else make_loader)(workers)
    loader.load_state_dict(torch.load(state_path, weights_only=False))
    rest = list(loader)
    nxt = list(loader)  # the following epoch too
    torch.save({"rest": rest, "next": nxt, "state": loader.state_dict()}, out_path)


if __name__ == "__main__":
    main()
