"""Single-process behaviour of the distributed helpers (the 2-rank gloo run is in its own test)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from fastmed.train.engine.distributed import (  # noqa: E402
    init_distributed,
    mean_across_ranks,
    shutdown_distributed,
    unwrap_model,
    wrap_model,
)


def test_single_process_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = init_distributed()
    assert (info.rank, info.world_size, info.is_main, info.distributed) == (0, 1, True, False)
    model = torch.nn.Linear(3, 2)
    wrapped = wrap_model(model, info)
    assert wrapped is model and unwrap_model(wrapped) is model
    assert mean_across_ranks(2.5, info) == 2.5
    assert not torch.distributed.is_initialized()
    shutdown_distributed(info)
