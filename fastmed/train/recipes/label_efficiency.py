"""Label efficiency through the recipes: the ``cls`` recipe fine-tuned on 1 %, 10 % and 100 % of the training labels.

Each fraction is one :func:`fastmed.train.recipes.run` of the same configuration with ``data.label_fraction`` set
(its own run folder ``<out>/fraction_<f>``): the same study split and held-out series, training on a nested,
seeded subset of the training series that keeps every class of the first label key
(:func:`labelled_subset`). The held-out metric of each run (AUROC by default) is written as
``label_efficiency.json`` and ``label_efficiency.png`` in ``<out>``. ``fastmed label-efficiency`` runs it from the
command line with the Hydra overrides of ``fastmed finetune cls``. No torch import until a run starts.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastmed.train.metrics.label_efficiency import save_label_efficiency_plot, stratified_label_subsets
from fastmed.train.recipes.config import RunConfig

if TYPE_CHECKING:
    from fastmed.store.dataset import VolumeDataset
    from fastmed.train.recipes.runner import RunResult

LABEL_FRACTIONS = (0.01, 0.1, 1.0)
"""The issue's fractions of the training labels."""


def labelled_subset(ds: VolumeDataset, train: Sequence[int], label_col: int, fraction: float, seed: int) -> list[int]:
    """The training series whose labels a ``fraction`` run trains on (a nested, stratified, seeded subset).

    Parameters
    ----------
    ds
        The store's dataset.
    train
        Series indices of the training studies (``split_by_study(...).train``).
    label_col
        Position of the stratifying label (the first label key) in ``ds.label_names``.
    fraction
        Fraction in (0, 1]: of each class of that label, ``ceil(fraction * n_class)`` series, at least one.
    seed
        The run's seed (the same seed gives nested subsets across fractions).

    Returns
    -------
    list of int
        Sorted series indices of ``ds``.
    """
    train = [int(i) for i in train]
    strata = [float(np.asarray(ds[i]["labels"], dtype=np.float64)[label_col]) for i in train]
    picked = stratified_label_subsets(strata, (fraction,), seed)[float(fraction)]
    return [train[j] for j in picked]


@dataclass
class LabelEfficiency:
    """The curve of one label-efficiency sweep.

    Parameters
    ----------
    metric
        The held-out metric (a key of the runs' ``metrics``).
    fractions
        Requested fractions of the training labels, ascending.
    labelled
        Training series each run trained on.
    train_series
        Training series of the largest fraction's run (all of the split's when 1.0 is among the fractions).
    holdout_series
        Held-out series every run was scored on.
    scores
        The metric of each run (NaN where undefined).
    run_dirs
        Each run's folder.
    json_path, plot
        The written ``label_efficiency.json`` and ``.png``.
    runs
        The recipe results (not saved).
    """

    metric: str
    fractions: list[float]
    labelled: list[int]
    train_series: int
    holdout_series: int
    scores: list[float]
    run_dirs: list[str]
    json_path: Path
    plot: Path
    runs: list[Any] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """What ``label_efficiency.json`` holds (NaN as null)."""
        return {
            "metric": self.metric,
            "fractions": self.fractions,
            "labelled_series": self.labelled,
            "train_series": self.train_series,
            "holdout_series": self.holdout_series,
            "scores": [s if math.isfinite(s) else None for s in self.scores],
            "run_dirs": self.run_dirs,
        }


def sweep_dir(cfg: RunConfig) -> Path:
    """The sweep's folder: ``run_dir``, or ``out_dir/label_efficiency``."""
    return Path(cfg.run_dir) if cfg.run_dir else Path(cfg.out_dir) / "label_efficiency"


def run_label_efficiency(
    cfg: RunConfig,
    fractions: Sequence[float] = LABEL_FRACTIONS,
    *,
    metric: str = "auroc",
    out_dir: str | Path | None = None,
    on_run: Callable[[float, RunResult], None] | None = None,
    done: Mapping[float, RunResult] | None = None,
) -> LabelEfficiency:
    """Run the ``cls`` recipe of ``cfg`` once per fraction of the training labels; write the curve.

    Parameters
    ----------
    cfg
        A ``cls`` run configuration (its ``data.label_fraction`` is replaced per run).
    fractions
        Fractions in (0, 1].
    metric
        Held-out metric to plot (``auroc``, ``auroc_study``, ``ece``, ...).
    out_dir
        Where the runs (``fraction_<f>/``), ``label_efficiency.json`` and ``.png`` go (default :func:`sweep_dir`).
    on_run
        Called with ``(fraction, result)`` after each run.
    done
        Runs already made for some fractions (``cfg`` with that ``data.label_fraction``, any run folder): used
        as they are, not run again.

    Returns
    -------
    LabelEfficiency
        The curve and where it was written.
    """
    if cfg.task != "cls":
        raise ValueError(f"label efficiency runs the cls recipe, got task {cfg.task!r}")
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1], got {list(fractions)}")
    from fastmed.train.recipes import run

    out = Path(out_dir) if out_dir is not None else sweep_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    fr = sorted({float(f) for f in fractions})
    runs, labelled, scores, dirs = [], [], [], []
    train_series = holdout = 0
    for f in fr:
        c = copy.deepcopy(cfg)
        c.data.label_fraction = f
        c.run_dir = str(out / f"fraction_{f:g}")
        res = (done or {}).get(f) or run(c)
        report = json.loads((Path(res.run_dir) / "metrics.json").read_text())
        labelled.append(int(report["train_series"]))
        holdout = int(report["holdout_series"])
        train_series = max(train_series, labelled[-1])
        scores.append(float(res.metrics.get(metric, float("nan"))))
        dirs.append(str(res.run_dir))
        runs.append(res)
        if on_run is not None:
            on_run(f, res)
    plot = save_label_efficiency_plot(
        fr,
        scores,
        out / "label_efficiency.png",
        metric=f"held-out {metric}",
        title=f"label efficiency ({holdout} held-out series)",
        annotations=[f"n={n}" for n in labelled],
    )
    curve = LabelEfficiency(
        metric, fr, labelled, train_series, holdout, scores, dirs, out / "label_efficiency.json", plot
    )
    curve.runs = runs
    curve.json_path.write_text(json.dumps(curve.to_dict(), indent=1))
    return curve


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``label-efficiency``."""
    p = subparsers.add_parser(
        "label-efficiency",
        help="fine-tune cls on 1%%, 10%%, 100%% of the training labels; write the curve (Hydra overrides)",
        description="Run `fastmed finetune cls` once per fraction of the training labels (stratified by the first "
        "label key, at least one series of each class, nested, seeded), score each on the same held-out series, "
        "and write label_efficiency.json and label_efficiency.png into run_dir (default out_dir/label_efficiency). "
        "Overrides as for `fastmed finetune cls`: data.store=cache.zarr pretrained=runs/mae/checkpoint ...",
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides (key=value, group=option)")
    p.add_argument("--fractions", type=float, nargs="+", default=list(LABEL_FRACTIONS), help="label fractions")
    p.add_argument("--metric", default="auroc", help="held-out metric to plot (default auroc)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from fastmed.train.recipes.cli import cli_config, run_errors

    cfg = cli_config("fastmed label-efficiency", "cls", args.overrides)
    if cfg is None:
        return 2
    try:
        curve = run_label_efficiency(cfg, args.fractions, metric=args.metric)
    except run_errors() as exc:
        print(f"fastmed label-efficiency: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({**curve.to_dict(), "json": str(curve.json_path), "plot": str(curve.plot)}, indent=1))
    return 0
