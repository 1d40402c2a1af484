"""RSS stays flat over epochs with a fastmed Compose in 2 worker processes (main and workers measured).

Measured with psutil (the process and its children, i.e. the persistent workers). Epoch
0 and 1 warm up allocators and caches; from then on no process may grow by more than a
few MiB over 5 more epochs (a leak of one 24³ float32 sample per step would add ~3 MiB
per epoch per worker here).
"""

from __future__ import annotations

import gc

import pytest

import fastmed as fm
from tests.loader._volumes import VolumeDicts

psutil = pytest.importorskip("psutil")

EPOCHS = 7
LIMIT = 6 * 2**20


def test_rss_flat_over_epochs_with_compose_and_two_workers() -> None:
    aug = fm.Compose(
        [fm.RandomCrop((16, 16, 16)), fm.RandomFlip(), fm.RandomAffine(degrees=10), fm.RandomGaussianNoise()]
    )
    loader = fm.DataLoader(
        VolumeDicts(48), batch_size=4, shuffle=True, seed=0, num_workers=2, persistent_workers=True, transform=aug
    )
    me = psutil.Process()
    others = {c.pid for c in me.children()}  # e.g. multiprocessing's resource tracker from earlier tests
    main: list[int] = []
    workers: list[dict[int, int]] = []
    for _ in range(EPOCHS):
        for batch in loader:
            assert batch["image"].shape == (4, 1, 16, 16, 16)
        gc.collect()
        main.append(me.memory_info().rss)
        workers.append({c.pid: c.memory_info().rss for c in me.children() if c.pid not in others})
    assert len(workers[-1]) == 2 and set(workers[-1]) == set(workers[1]), "persistent workers were replaced"
    growth = max(main[2:]) - main[1]
    assert growth < LIMIT, f"main RSS grew {growth / 2**20:.1f} MiB over epochs 2..{EPOCHS - 1}: {main}"
    for pid in workers[1]:
        sizes = [w[pid] for w in workers]
        grew = max(sizes[2:]) - sizes[1]
        assert grew < LIMIT, f"a worker's RSS grew {grew / 2**20:.1f} MiB over epochs 2..{EPOCHS - 1}: {sizes}"
