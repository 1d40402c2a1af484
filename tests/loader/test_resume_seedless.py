"""Resume without ``seed=`` in a new process whose torch initial seed differs: the state carries the effective seed.

Oracle: an uninterrupted run in this process (same torch seed as the interrupted one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.loader._datasets import to_py
from tests.loader._resume_config import run_child
from tests.loader._resume_seedless_child import make_seedless


@pytest.mark.parametrize("kind", ["patches", "plain"])
def test_seedless_resume_in_a_process_with_another_torch_seed(tmp_path: Path, kind: str) -> None:
    torch.manual_seed(123)
    reference = make_seedless(kind)
    full = [to_py(b) for b in reference]
    following = [to_py(b) for b in reference]

    torch.manual_seed(123)
    first = make_seedless(kind)
    it = iter(first)
    head: list[Any] = [to_py(next(it)) for _ in range(3)]
    state = first.state_dict()
    assert state["seed"] is None and state["augment_seed"] == 123
    torch.save(state, tmp_path / "state.pt")
    del it, first
    run_child("tests.loader._resume_seedless_child", str(tmp_path / "state.pt"), str(tmp_path / "out.pt"), "999", kind)
    out = torch.load(tmp_path / "out.pt", weights_only=False)
    assert out["initial_seed"] == 999  # the child's torch really had another seed
    assert head + [to_py(b) for b in out["rest"]] == full
    assert [to_py(b) for b in out["next"]] == following


def test_a_state_without_augment_seed_keeps_the_loaders_own() -> None:
    torch.manual_seed(5)
    loader = make_seedless("patches")
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    del state["augment_seed"]  # a state saved before the key existed
    torch.manual_seed(6)
    again = make_seedless("patches")
    again.load_state_dict(state)
    assert again.augment_seed == 6
