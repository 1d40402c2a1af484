"""A MONAI segmentation script switched to fastmed by changing the loader line only.

The script is MONAI's usual recipe: a ``CacheDataset`` caches the deterministic
preprocessing, random crops/flips/rotations run per sample, a 3D ``UNet`` trains with
``DiceLoss``. The data are small synthetic volumes (a bright ball to segment), so it runs
anywhere in seconds. The one line that differs between the two variants::

    -    loader = monai.data.DataLoader(ds, batch_size=2, shuffle=True, num_workers=2)
    +    loader = fm.DataLoader(ds, batch_size=2, shuffle=True, num_workers=2, seed=0)

With ``fm.DataLoader`` the batches are the same dicts (``batch["image"]``,
``batch["label"]``), and with ``seed=`` the order and the CacheDataset's random transforms
are a function of ``(seed, epoch, index)``: the same for any ``num_workers`` and resumable
mid-epoch with ``loader.state_dict()``. ``loader.stats`` reports the data-wait fraction.

Run::

    python examples/monai_to_fastmed.py --loader monai --iterations 20
    python examples/monai_to_fastmed.py --loader fastmed --iterations 20
"""

from __future__ import annotations

import argparse
from typing import Any

import monai
import numpy as np
import torch
from monai import transforms as mt
from monai.losses import DiceLoss
from monai.networks.nets import UNet

import fastmed as fm

KEYS = ["image", "label"]


def synthetic_cases(n: int, shape: tuple[int, int, int] = (48, 48, 48), seed: int = 0) -> list[dict[str, Any]]:
    """``n`` image/label pairs: a noisy ball of random centre and radius, channel-first."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape, dtype=np.float32)
    cases = []
    for _ in range(n):
        c = rng.uniform(0.35, 0.65, 3) * np.array(shape)
        r = rng.uniform(0.15, 0.25) * min(shape)
        ball = ((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2) <= r**2
        image = 300.0 * ball + rng.normal(0.0, 60.0, shape)
        cases.append({"image": image[None].astype(np.float32), "label": ball[None].astype(np.float32)})
    return cases


def build_dataset(cases: list[dict[str, Any]], patch: int) -> monai.data.CacheDataset:
    """MONAI's CacheDataset: intensity scaling cached, random crop/flip/rotate per sample."""
    transform = mt.Compose(
        [
            mt.ScaleIntensityRanged("image", a_min=-200.0, a_max=500.0, b_min=0.0, b_max=1.0, clip=True),
            mt.EnsureTyped(KEYS),
            mt.RandSpatialCropd(KEYS, roi_size=(patch,) * 3, random_size=False),
            mt.RandFlipd(KEYS, prob=0.5, spatial_axis=0),
            mt.RandRotate90d(KEYS, prob=0.5, spatial_axes=(1, 2)),
            mt.RandGaussianNoised("image", prob=0.5, std=0.05),
        ]
    )
    return monai.data.CacheDataset(cases, transform=transform, cache_rate=1.0, num_workers=0, progress=False)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train for ``--iterations`` steps; return the losses (and fastmed's loader stats)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loader", choices=["monai", "fastmed"], default="fastmed")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=2)
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    ds = build_dataset(synthetic_cases(args.cases), args.patch)
    w = args.num_workers
    # ---- the only change: one loader line --------------------------------------------------
    if args.loader == "monai":
        loader = monai.data.DataLoader(ds, batch_size=2, shuffle=True, num_workers=w)
    else:
        loader = fm.DataLoader(ds, batch_size=2, shuffle=True, num_workers=w, seed=0)
    # ----------------------------------------------------------------------------------------

    net = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(8, 16, 32), strides=(2, 2), num_res_units=1)
    loss_fn = DiceLoss(to_onehot_y=True, softmax=True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses: list[float] = []
    while len(losses) < args.iterations:
        for batch in loader:
            image, label = batch["image"], batch["label"]
            opt.zero_grad()
            loss = loss_fn(net(image), label)
            loss.backward()
            opt.step()
            losses.append(float(loss))
            print(f"[{args.loader}] iteration {len(losses)}: dice loss {losses[-1]:.4f}", flush=True)
            if len(losses) >= args.iterations:
                break
    out: dict[str, Any] = {"losses": losses}
    stats = getattr(loader, "stats", None)  # fastmed's telemetry
    if stats is not None:
        out["stats"] = stats
        print(f"[fastmed] {stats.samples_per_s:.1f} samples/s, data-wait fraction {stats.data_wait_fraction:.2f}")
    return out


if __name__ == "__main__":
    main()
