"""DDP on CPU: 2 ranks launched by torchrun (gloo), fed by fastmed.DataLoader, trained by run_steps.

The worker (``_ddp_worker.py``) writes what each rank saw and computed; this test compares:

- **Disjoint shards**: each rank's order equals torch's ``DistributedSampler`` (the oracle) for
  every epoch; across ranks every sample is seen once per epoch, plus the padding: with 13
  samples and 2 ranks each rank takes ``ceil(13 / 2) = 7``, so the head of the epoch's
  permutation is repeated once (DistributedSampler's ``drop_last=False`` rule), so that both
  ranks run the same number of steps.
- **All-reduce**: before every optimizer step both ranks hold the same gradient, and it equals
  the mean of the two ranks' own batch gradients (computed on a plain copy of the model).
- **Parameters**: rank 1 starts from rank 0's weights (DDP broadcast, though it drew its own),
  and the final parameters agree on both ranks (gathered with ``all_gather``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.train import _ddp_worker as worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("ddp")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(Path(worker.__file__)),
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_ranks_see_disjoint_shards_like_distributed_sampler(ranks: list[dict[str, Any]]) -> None:
    from torch.utils.data.distributed import DistributedSampler

    per_rank = math.ceil(worker.N / 2)
    for epoch in range(worker.EPOCHS):
        union: Counter[int] = Counter()
        for r, res in enumerate(ranks):
            ids = [i for rec in res["seen"] if rec["epoch"] == epoch for i in rec["ids"]]
            oracle = DistributedSampler(range(worker.N), num_replicas=2, rank=r, shuffle=True, seed=worker.SEED)
            oracle.set_epoch(epoch)
            assert ids == list(oracle)
            assert len(ids) == per_rank
            union.update(ids)
        assert set(union) == set(range(worker.N))  # every sample, once ...
        repeats = [i for i, c in union.items() if c > 1]
        assert sum(union.values()) - worker.N == 2 * per_rank - worker.N == 1  # ... plus one padding repeat
        head = torch.randperm(worker.N, generator=torch.Generator().manual_seed(worker.SEED + epoch))[0].item()
        assert repeats == [head]
    assert ranks[0]["steps"] == ranks[1]["steps"] == worker.EPOCHS * math.ceil(per_rank / worker.BATCH)


def test_gradients_agree_after_all_reduce(ranks: list[dict[str, Any]]) -> None:
    r0, r1 = ranks
    assert len(r0["reduced_grads"]) == len(r1["reduced_grads"]) == r0["steps"] > 0
    assert np.array_equal(r0["reduced_grads"], r1["reduced_grads"])
    mean_local = (np.array(r0["local_grads"]) + np.array(r1["local_grads"])) / 2
    np.testing.assert_allclose(r0["reduced_grads"], mean_local, rtol=1e-5, atol=1e-6)
    assert not np.allclose(r0["local_grads"], r1["local_grads"])  # the shards really differ


def test_parameters_agree_across_ranks(ranks: list[dict[str, Any]]) -> None:
    r0, r1 = ranks
    assert r0["initial"] == r1["initial"]  # rank 0's weights broadcast at wrap time
    assert r0["final"] == r1["final"] and r0["gathered_final"] == r1["gathered_final"] == [r0["final"], r1["final"]]
    assert r0["final"] != r0["initial"]
    assert r0["mean_last_loss"] == pytest.approx((r0["last_loss"] + r1["last_loss"]) / 2)
