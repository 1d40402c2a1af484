"""``run(cfg)``: one seeded, logged, checkpointed training run of a recipe, fed by ``fm.DataLoader`` from a store."""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastmed.store.dataset import VolumeDataset
from fastmed.train.engine.checkpoint import load_checkpoint, save_checkpoint
from fastmed.train.engine.distributed import (
    DistInfo,
    init_distributed,
    mean_across_ranks,
    shutdown_distributed,
    unwrap_model,
    wrap_model,
)
from fastmed.train.engine.explog import ExperimentLog
from fastmed.train.engine.loop import LoopState, run_steps
from fastmed.train.engine.precision import grad_scaler
from fastmed.train.engine.probe_fit import fit_linear_probe
from fastmed.train.models.config import ViTConfig, get_config
from fastmed.train.models.heads import Classifier
from fastmed.train.recipes.config import RunConfig, check_config
from fastmed.train.recipes.data import (
    TaskCompose,
    TaskItems,
    endless,
    eval_compose,
    make_loader,
    split_by_study,
    train_compose,
    with_intensity,
)
from fastmed.train.recipes.evaluate import evaluate, segment_volumes
from fastmed.train.recipes.label_efficiency import labelled_subset
from fastmed.train.recipes.schedule import lr_factor
from fastmed.train.recipes.tasks import build_task, trainable_parameters
from fastmed.train.text.tokenizer import ReportTokenizer, train_report_tokenizer
from fastmed.transforms import Normalize


@dataclass
class RunResult:
    """What a run produced.

    Parameters
    ----------
    run_dir
        The run folder (``config.yaml``, ``metrics.jsonl``/``.csv``, ``metrics.json``, ``checkpoint/``).
    metrics
        Held-out metrics (see :func:`~fastmed.train.recipes.evaluate.evaluate`); empty without held-out studies.
    losses
        Mean training loss of every optimizer step (the whole curve, across resumes).
    samples_per_s, data_wait_fraction, bottleneck
        Throughput of the training loop, share of its time spent waiting for batches, and the slower side
        (``"data"`` or ``"model"``).
    checkpoint
        The final checkpoint folder (``None`` on ranks other than 0).
    """

    run_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    samples_per_s: float = 0.0
    data_wait_fraction: float = 0.0
    bottleneck: str = "model"
    checkpoint: Path | None = None


def model_shape(cfg: RunConfig) -> ViTConfig:
    """The ViT shape: the named size with its input size set from ``data.patch_size`` or ``model.img_size``."""
    vit = get_config(cfg.model.name)
    size = cfg.data.patch_size or cfg.model.img_size
    return vit.with_(img_size=tuple(int(s) for s in size)) if size else vit


def write_config(cfg: RunConfig, path: Path) -> Path:
    """Write the resolved configuration as YAML (JSON, which YAML reads, when PyYAML is missing)."""
    d = cfg.to_dict()
    try:
        import yaml

        path.write_text(yaml.safe_dump(d, sort_keys=False))
    except ImportError:  # pragma: no cover - PyYAML comes with hydra-core / omegaconf
        path.write_text(json.dumps(d, indent=1))
    return path


def _tokenizer(cfg: RunConfig, items: TaskItems, run_dir: Path, info: DistInfo) -> ReportTokenizer:
    path = run_dir / "tokenizer.json"
    if path.is_file() and cfg.trainer.resume:
        return ReportTokenizer.load(path)
    tok = train_report_tokenizer(items.reports(), vocab_size=cfg.data.vocab_size)
    if info.is_main:
        tok.save(path)
    return tok


def run(cfg: RunConfig) -> RunResult:
    """Train ``cfg.task`` on ``cfg.data.store``, evaluate on the held-out studies and write the run folder.

    Runs alone or under ``torchrun`` (one process per rank; the loader shards the samples, DDP averages the
    gradients, rank 0 writes logs, checkpoints and the report). With ``trainer.resume`` and a
    ``run_dir/checkpoint``, the run continues where it stopped: model, optimizer, scaler and loader state.

    Parameters
    ----------
    cfg
        The run configuration.

    Returns
    -------
    RunResult
        Metrics, loss curve, throughput, and where the run folder and checkpoint are.
    """
    info = init_distributed(cfg.trainer.device)
    try:
        result = _run(cfg, info)
    except BaseException:
        shutdown_distributed(info, synchronize=False)
        raise
    shutdown_distributed(info)
    return result


def _run(cfg: RunConfig, info: DistInfo) -> RunResult:
    tr, dc = cfg.trainer, cfg.data
    check_config(cfg)
    if not Path(dc.store).exists():
        raise FileNotFoundError(
            f"data.store={dc.store}: no such store (write one with `fastmed convert ARCHIVE -o {dc.store}`)"
        )
    if tr.threads:
        torch.set_num_threads(int(tr.threads))
    run_dir = cfg.resolved_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    if info.is_main:
        write_config(cfg, run_dir / "config.yaml")
    vit = model_shape(cfg)
    ds = VolumeDataset(dc.store)
    names = list(ds.label_names)
    missing = [k for k in dc.label_keys if k not in names]
    if cfg.task == "cls" and (missing or not dc.label_keys):
        raise ValueError(f"label_keys {missing or dc.label_keys} not among the store's labels {names}")
    label_index = [names.index(k) for k in dc.label_keys if k in names]
    strat = dc.label_keys[0] if dc.label_keys else None
    split = split_by_study(ds, vit.spatial_dims, dc.holdout, cfg.seed, stratify=strat, modalities=dc.modalities)
    if cfg.task == "cls" and dc.label_fraction != 1.0:  # fractions outside (0, 1] are refused there
        split.train = labelled_subset(ds, split.train, label_index[0], dc.label_fraction, cfg.seed)
        dc = replace(dc, batch_size=min(dc.batch_size, len(split.train)))
    seg = cfg.task == "seg"
    train_items = TaskItems(ds, split.train, label_index, with_mask=seg, max_len=dc.report_max_len)
    tok = _tokenizer(cfg, train_items, run_dir, info) if cfg.task == "clip" else None
    train_items.tokenizer = tok
    eval_items = TaskItems(ds, split.holdout, label_index, with_mask=seg, tokenizer=tok, max_len=dc.report_max_len)
    grid = vit.grid if cfg.task == "mae" else None
    whole = dc.whole_volume and cfg.task in ("cls", "clip")
    clip, by_mod = dc.intensity_clip, dc.clip_by_modality
    train_aug = with_intensity(
        train_compose(vit.img_size, grid, dc.mask_ratio, seg, whole, dc.random_flip), clip, by_mod
    )
    if len(train_items) < dc.batch_size:  # say which setting to change (the loader's own check names none)
        raise ValueError(
            f"{len(train_items)} training series with {vit.spatial_dims}D images for data.batch_size={dc.batch_size}"
            f" ({len(split.holdout)} held out): lower data.batch_size, or train on a larger store"
        )
    loader = make_loader(train_items, train_aug, dc, cfg.seed, True)

    # the model's initial weights come from the seed; the caller's global RNG state is left as it was
    with torch.random.fork_rng(devices=[]):
        torch.random.manual_seed(cfg.seed)
        task = build_task(cfg, vit, tok, len(label_index))
    model = wrap_model(task.model, info)
    opt = torch.optim.AdamW(trainable_parameters(model), lr=tr.lr, weight_decay=tr.weight_decay)
    scaler = grad_scaler(tr.precision, info.device.type)
    state = LoopState()
    resumed_from: int | None = None
    ckpt = run_dir / "checkpoint"
    if tr.resume and (ckpt / "state.json").is_file():
        _check_same_run(cfg, json.loads((ckpt / "state.json").read_text()).get("extra", {}).get("config"), ckpt)
        state, meta = load_checkpoint(ckpt, unwrap_model(model), opt, scaler, info.device)
        resumed_from = state.step
        loader_state = meta["loader_state"]
        rank_file = run_dir / f"loader_state_rank{info.rank}.json"
        if info.rank > 0 and rank_file.is_file():
            loader_state = json.loads(rank_file.read_text())
        if loader_state is not None:
            loader.load_state_dict(loader_state)

    def set_lr(step: int) -> None:  # the rate of the next optimizer step (a function of the step: resume-safe)
        for group in opt.param_groups:
            group["lr"] = tr.lr * lr_factor(step, tr.max_steps, tr.schedule, tr.warmup_steps)

    set_lr(state.step + 1)
    log = ExperimentLog(run_dir, resume_step=resumed_from) if info.is_main else None
    if log is not None:
        log.log_params(cfg.to_dict())
        log.log_artifact(run_dir / "config.yaml")
    logged = state.step

    def save() -> Path | None:
        if info.distributed and info.rank > 0:
            (run_dir / f"loader_state_rank{info.rank}.json").write_text(json.dumps(loader.state_dict()))
            return None
        extra = {"config": cfg.to_dict()}
        return save_checkpoint(ckpt, unwrap_model(model), opt, state_now[0], scaler, loader.state_dict(), extra)

    state_now = [state]

    def on_step(st: LoopState) -> None:
        nonlocal logged
        state_now[0] = st
        if st.step % max(tr.log_every, 1) == 0 or st.step == tr.max_steps:
            loss = mean_across_ranks(st.losses[-1], info)
            if log is not None:
                log.log(
                    step=st.step,
                    loss=loss,
                    samples_per_s=st.samples_per_s * info.world_size,
                    data_wait_fraction=st.data_wait_fraction,
                    lr=opt.param_groups[0]["lr"],
                )
            logged = st.step
        if tr.ckpt_every and st.step % tr.ckpt_every == 0 and st.step < tr.max_steps:
            save()
        set_lr(st.step + 1)

    try:
        batches: Generator[Any, None, None] = endless(loader)
        try:
            if cfg.model.probe_solver == "lbfgs":
                if info.distributed:
                    raise ValueError("model.probe_solver=lbfgs fits on one process: run it without torchrun")
                probe = unwrap_model(model)
                assert isinstance(probe, Classifier)
                state = fit_linear_probe(
                    probe,
                    batches,
                    tr.max_steps,
                    cfg.model.probe_l2,
                    cfg.model.probe_iters,
                    tr.precision,
                    info.device,
                    state=state,
                    on_step=on_step,
                )
            else:
                state = run_steps(
                    model,
                    opt,
                    batches,
                    task.step,
                    tr.max_steps,
                    accumulate=tr.accumulate,
                    precision=tr.precision,
                    device_type=info.device.type,
                    scaler=scaler,
                    state=state,
                    on_step=on_step,
                )
        finally:
            batches.close()
        state_now[0] = state
        final = save()

        metrics: dict[str, float] = {}
        predictions: dict[str, Any] = {}
        if info.is_main and eval_items.indices and seg:
            held = [eval_items[k] for k in range(len(eval_items))]
            metrics = segment_volumes(
                unwrap_model(model),
                held,
                vit.img_size,
                tr.precision,
                info.device,
                with_intensity(TaskCompose([Normalize()], label_keys=("label",)), clip, by_mod),
            )
        elif info.is_main and eval_items.indices:
            eval_loader = make_loader(
                eval_items,
                with_intensity(eval_compose(vit.img_size, grid, dc.mask_ratio, seg, whole), clip, by_mod),
                dc,
                cfg.seed,
                False,
            )
            metrics = evaluate(
                cfg.task,
                unwrap_model(model),
                eval_loader,
                tr.precision,
                info.device,
                dc.label_keys,
                predictions,
                tta_flips=dc.tta_flips,
            )
        result = RunResult(
            run_dir=run_dir,
            metrics=metrics,
            losses=list(state.losses),
            samples_per_s=state.samples_per_s * info.world_size,
            data_wait_fraction=state.data_wait_fraction,
            bottleneck=state.bottleneck,
            checkpoint=final,
        )
        if log is not None:
            report = _report(cfg, result, state, loader, info, len(split.train), len(split.holdout))
            (run_dir / "metrics.json").write_text(json.dumps(report, indent=1))
            log.log_summary(metrics, state.step)
            for path in [run_dir / "metrics.json", *_outputs(run_dir, predictions, dc.label_keys)]:
                log.log_artifact(path)
            log.close()
    except BaseException:
        if log is not None:  # the CSV so far; the MLflow run marked FAILED
            log.close("FAILED")
        raise
    return result


def _outputs(run_dir: Path, predictions: dict[str, Any], label_keys: list[str]) -> list[Path]:
    """Write ``predictions.csv`` and ``reliability.png`` from a ``cls`` run's held-out predictions (others: none).

    The table has one row per held-out series: its keyed study id, then ``label:<key>`` and ``prob:<key>`` per
    label; the diagram pools every label, as the ``ece`` metric.
    """
    if "probs" not in predictions:
        return []
    import csv

    from fastmed.train.metrics.reliability_plot import save_reliability_diagram

    y, p = np.asarray(predictions["labels"]), np.asarray(predictions["probs"])
    table = run_dir / "predictions.csv"
    with table.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["study", *(f"label:{k}" for k in label_keys), *(f"prob:{k}" for k in label_keys)])
        for study, yr, pr in zip(predictions["studies"], y, p, strict=True):
            writer.writerow([study, *(float(v) for v in yr), *(float(v) for v in pr)])
    return [table, save_reliability_diagram(y.ravel(), p.ravel(), run_dir / "reliability.png", title="held-out")]


VOLATILE = {"trainer": ("max_steps", "log_every", "ckpt_every", "threads", "resume"), "data": ("num_workers",)}
"""Settings a resumed run may change (how long, how often, how many threads); anything else must match."""


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _check_same_run(cfg: RunConfig, saved: dict[str, Any] | None, ckpt: Path) -> None:
    if saved is None:
        return
    skip = {f"{g}.{k}" for g, keys in VOLATILE.items() for k in keys} | {"run_dir", "out_dir"}
    now, then = _flat(cfg.to_dict()), _flat(saved)
    diff = sorted(k for k in set(now) | set(then) if k not in skip and now.get(k) != then.get(k))
    if diff:
        raise ValueError(
            f"{ckpt} belongs to a run with another configuration ({', '.join(diff)} differ): "
            "choose another run_dir, or trainer.resume=false to start over"
        )


def _report(
    cfg: RunConfig, res: RunResult, st: LoopState, loader: Any, info: DistInfo, n_train: int, n_hold: int
) -> dict[str, Any]:
    stats = loader.stats
    return {
        "task": cfg.task,
        "steps": st.step,
        "world_size": info.world_size,
        "train_series": n_train,
        "holdout_series": n_hold,
        "loss_first": res.losses[0] if res.losses else None,
        "loss_last": res.losses[-1] if res.losses else None,
        "samples_per_s": res.samples_per_s,
        "data_wait_fraction": res.data_wait_fraction,
        "bottleneck": res.bottleneck,
        # The loader's own view of its last epoch. A run that stops just after an epoch starts has one batch
        # there, whose "elapsed" is only its hand-over: no rate then (the run's own figures are above).
        "loader": {
            "last_epoch_batches": stats.batches,
            "samples_per_s": stats.samples_per_s if stats.batches >= 2 else None,
            "data_wait_fraction": stats.data_wait_fraction if stats.batches >= 2 else None,
            "latency_p50_ms": stats.latency_p50_ms,
        },
        "metrics": {k: (v if v == v else None) for k, v in res.metrics.items()},
    }
