"""``fastmed export RUN_DIR``: the fine-tuned model of a ``cls`` / ``seg`` run as ONNX, checked with onnxruntime.

The model is rebuilt from the run's resolved configuration (the one saved in its checkpoint), its weights loaded
from ``checkpoint/model.safetensors``, LoRA adapters merged into plain linear layers, and exported with
:func:`~fastmed.train.engine.export.export_onnx` (dynamic batch axis). onnxruntime then runs the file on a batch of
standard-normal inputs (what the recipes' per-volume z-score feeds the model) and the largest difference from
torch's output is reported; the export fails when it exceeds the tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any

from fastmed.train.recipes.config import RunConfig

EXPORTABLE = ("cls", "seg")
"""Tasks whose model maps an image to logits (the pretraining models have no single output to deploy)."""

TOLERANCE = 1e-3
"""Largest accepted ``|onnxruntime - torch|`` on the check batch, relative to ``max(1, max |torch|)``."""


@dataclass
class ExportResult:
    """What :func:`export_run` wrote and how well onnxruntime agrees with torch.

    Parameters
    ----------
    onnx
        The written ``.onnx`` file.
    task
        ``"cls"`` or ``"seg"``.
    input_shape
        Shape of the check batch (batch, channels, spatial axes); the batch axis is dynamic in the graph.
    max_abs_diff
        Largest absolute difference between onnxruntime's and torch's outputs on the check batch.
    lora_merged
        LoRA adapters folded into their linear layers before the export.
    """

    onnx: Path
    task: str
    input_shape: tuple[int, ...]
    max_abs_diff: float
    lora_merged: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        d = asdict(self)
        d["onnx"] = str(self.onnx)
        d["input_shape"] = list(self.input_shape)
        return d


def run_config(run_dir: str | PathLike[str]) -> RunConfig:
    """The configuration a run's checkpoint was trained with (``checkpoint/state.json``, else ``config.yaml``)."""
    folder = Path(run_dir)
    state = folder / "checkpoint" / "state.json"
    if not state.is_file():
        raise FileNotFoundError(f"{folder}: no checkpoint/state.json (not a finished fastmed run folder)")
    saved = json.loads(state.read_text()).get("extra", {}).get("config")
    if saved is None:
        import yaml

        saved = yaml.safe_load((folder / "config.yaml").read_text())
    return RunConfig.from_dict(saved)


def export_run(
    run_dir: str | PathLike[str], output: str | PathLike[str] | None = None, batch: int = 2, seed: int = 0
) -> ExportResult:
    """Export a ``cls`` / ``seg`` run's fine-tuned model to ONNX and check it against onnxruntime.

    Parameters
    ----------
    run_dir
        A run folder of ``fastmed finetune cls|seg`` (``checkpoint/`` inside).
    output
        The ``.onnx`` file (default ``run_dir/model.onnx``).
    batch
        Batch size of the onnxruntime check (the export's example batch has one sample less, at least one,
        so the dynamic batch axis is exercised).
    seed
        Seed of the check batch.

    Returns
    -------
    ExportResult
        The file, the check's input shape and its largest difference.

    Raises
    ------
    ValueError
        For a pretraining run, or when onnxruntime differs from torch by more than :data:`TOLERANCE`.
    """
    import torch

    from fastmed.train.engine.checkpoint import load_checkpoint
    from fastmed.train.engine.export import export_onnx, onnx_max_abs_diff
    from fastmed.train.models.lora import merge_lora
    from fastmed.train.recipes.runner import model_shape
    from fastmed.train.recipes.tasks import build_task

    folder = Path(run_dir)
    cfg = run_config(folder)
    if cfg.task not in EXPORTABLE:
        raise ValueError(f"{folder}: a {cfg.task} run; ONNX export takes a fine-tuned {' or '.join(EXPORTABLE)} run")
    vit = model_shape(cfg)
    with torch.random.fork_rng(devices=[]):
        task = build_task(replace(cfg, pretrained=None), vit, None, len(cfg.data.label_keys))
    model = task.model
    load_checkpoint(folder / "checkpoint", model)
    merged = merge_lora(model)
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    shape = (int(batch), vit.in_channels, *vit.img_size)
    x = torch.randn(shape, generator=gen)
    path = export_onnx(model, x[: max(1, batch - 1)], output or folder / "model.onnx")
    diff = onnx_max_abs_diff(path, model, x)
    with torch.no_grad():
        scale = max(1.0, float(model(x).abs().max()))
    if not diff <= TOLERANCE * scale:
        raise ValueError(f"{path}: onnxruntime differs from torch by {diff:.3g} (> {TOLERANCE:g} x {scale:.3g})")
    return ExportResult(path, cfg.task, shape, diff, merged)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``export``."""
    p = subparsers.add_parser(
        "export",
        help="export a fine-tuned cls/seg run to ONNX, checked against onnxruntime",
        description="Rebuild the model of a `fastmed finetune cls|seg` run from its checkpoint, merge LoRA "
        "adapters, export it to ONNX (dynamic batch axis) and compare onnxruntime's output with torch's on a "
        "check batch. Prints the file and the largest difference; exit code 1 when they disagree.",
    )
    p.add_argument("run_dir", type=Path, help="the run folder (holds checkpoint/)")
    p.add_argument("-o", "--output", type=Path, default=None, help="ONNX file (default RUN_DIR/model.onnx)")
    p.add_argument("--batch", type=int, default=2, help="batch size of the onnxruntime check (default 2)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from fastmed.train.recipes.cli import run_errors

    try:
        res = export_run(args.run_dir, args.output, batch=args.batch)
    except run_errors() as exc:
        print(f"fastmed export: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(res.to_dict(), indent=1))
    return 0
