"""The caption builder on its own: every drawn param is in the text, compactly."""

from __future__ import annotations

import numpy as np
import pytest

import fastmed.transforms as T
from fastmed.inspect.caption import caption, format_number, format_value, op_caption


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (1.23456, "1.23"), (-1000.0, "-1000"), (3687, "3687"), (2.5e-5, "2.5e-05"), (True, "yes")],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_format_value_shapes_units_and_axes():
    assert format_value("degrees", [1.0, -2.5, 3.25]) == "(1,-2.5,3.25)°"
    assert format_value("scale", [1.1, 1.1, 1.1]) == "1.1"  # isotropic floats collapse
    assert format_value("start", [3, 3, 3]) == "(3,3,3)"  # integers never collapse
    assert format_value("grid", np.zeros((3, 5, 6, 7), np.float32)) == "[3×5×6×7]"
    assert format_value("coefficients", list(range(10))) == "[10 values]"
    assert format_value("flip", [True, False, True]) == "z,x"
    assert format_value("flip", [False, True]) == "x"
    assert format_value("flip", [False, False]) == "none"


def test_op_caption_off_renames_and_config():
    assert op_caption("RandomGamma", {"apply": False, "gamma": 1.3}) == "Gamma: off"
    assert op_caption("RandomAffine", {"apply": True, "degrees": [5.0], "translate": [1.0, 2.0]}) == (
        "Affine rot=5° shift=(1,2)mm"
    )
    line = op_caption("Window", {}, T.Window(-1000, 400).to_dict())
    assert line == "Window low=-1000 high=400 out_range=(0,1)"


def _numbers(v):
    arr = np.asarray(v)
    return [] if arr.size > 6 or arr.ndim > 1 else [format_number(x) for x in arr.reshape(-1).tolist()]


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_caption_carries_every_drawn_param(index):
    aug = T.Compose(
        [
            T.RandomCrop((8, 8, 8)),
            T.RandomFlip(),
            T.RandomAffine(degrees=15, scale=(0.85, 1.15), translate=2.0),
            T.RandomElastic(magnitude=(1.0, 3.0), grid_spacing=6.0),
            T.Window(-1000, 400),
            T.RandomGamma(p=0.5),
            T.RandomGaussianNoise(),
        ]
    )
    params = aug.sample_params({"image": np.zeros((1, 12, 14, 16), np.int16)}, seed=3, index=index)
    lines = caption(params, aug.ops, width=52)
    text = "\n".join(lines)
    assert lines[0] == f"seed=3 epoch=0 index={index}"
    assert all(len(line) <= 52 or " " not in line.strip() for line in lines)
    flat = text.replace("\n  ", " ")
    for entry in params["ops"]:
        p = entry["params"]
        if p.get("apply") is False:
            assert f"{entry['op'].removeprefix('Random')}: off" in flat
            continue
        for key, v in p.items():
            if key in ("apply", "grid_inv") or isinstance(v, list) and v and isinstance(v[0], bool):
                continue
            for num in _numbers(v):
                assert num in flat, (key, num, flat)
    assert "mag=" in flat and "[3×" in flat  # elastic: magnitude and grid shape, not 300 numbers
