"""Run configuration: plain dataclasses, usable as Hydra structured configs (no torch import).

A run is described by one :class:`RunConfig` tree (``task``, ``seed``, ``data``, ``model``, ``trainer``,
``pretrained``, ``out_dir`` / ``run_dir``). The Hydra config groups in ``fastmed/train/conf`` fill it;
Python callers build it directly: ``RunConfig(task="mae", data=DataConfig(store="cache.zarr"))``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

TASKS = ("mae", "clip", "cls", "seg")
"""Recipes: MAE and CLIP pretraining, classification and segmentation fine-tuning."""


@dataclass
class DataConfig:
    """Where the samples come from and how batches are made.

    Parameters
    ----------
    store
        A fastmed store folder (written by :func:`fastmed.convert`).
    patch_size
        Training patch per spatial axis (random crop); ``None``: the model's input size.
    batch_size, num_workers
        Loader batch size and threads (``fm.DataLoader`` fast path) or workers.
    holdout
        Fraction of *studies* held out for evaluation (chosen from ``seed``; never trained on).
    label_keys
        Class-label names (``VolumeDataset.label_names``) the ``cls`` task predicts, one logit each.
    mask_ratio
        MAE mask ratio (the mask is drawn on the data side from the keyed Philox RNG).
    report_max_len, vocab_size
        CLIP: report length in tokens, and the size of the BPE vocabulary trained on the training reports.
    eval_batch_size
        Batch size of the held-out evaluation.
    whole_volume
        ``cls`` / ``clip``: the model sees each whole series fitted into its input size (``fm.Letterbox``: one
        scale for every axis, padded around) instead of a crop, so a lesion anywhere is in the input and the
        series' labels and report describe what the model sees. ``mae`` / ``seg`` always crop.
    intensity_clip
        ``[low, high]``: clip the raw voxel values (HU for CT) to this range before the per-volume z-score, whose
        statistics are then those of the clipped volume (nnU-Net clips CT this way). A lower bound around
        -200 HU folds air and lung into one value, so the z-score no longer spends its scale on the -1000 HU
        range outside soft tissue; a soft-tissue window (``[-160, 240]``) makes liver lesions of a few tens of HU
        visible to the model (see ``docs/train.md``, "Learning tests"). It applies to every series, so use it
        with ``modalities`` when the store also holds MR, or give the window per modality with
        ``clip_by_modality``. ``None``: z-score the raw values.
    clip_by_modality
        ``{modality: [low, high]}``: ``intensity_clip`` for the series of that DICOM modality only, e.g.
        ``+data.clip_by_modality.CT=[-160,240]`` on a CT + MR store (the MR series keep ``intensity_clip``, here
        none); as nnU-Net normalises CT with a fixed HU window and MR per volume. Training, evaluation and
        sliding-window inference all apply it.
    random_flip
        Training augmentation: flip each spatial axis with this probability (``fm.RandomFlip``, in the same fused
        pass as the crop); 0: none. Only for labels that a mirror image keeps: lesion presence or a mask, not
        laterality (CLIP reports that name a side become wrong for the flipped image).
    tta_flips
        ``cls``: held-out probabilities are the mean over the input and its mirror images along every
        combination of spatial axes (8 in 3D, 4 in 2D): test-time augmentation matching ``random_flip``.
    modalities
        Train and evaluate on the series of these DICOM modalities only (e.g. ``["CT"]``); ``None``: all.
    foreground_prob
        ``seg``: share of each batch's patches centred on a lesion voxel (``fm.LabelPatchSampler``, nnU-Net's
        oversampling); 0: random crops.
    label_fraction
        ``cls``: train on this fraction of the training series' labels (label-efficiency runs): that share of
        each class of the first label key, at least one series of each, nested across fractions for one seed
        (:func:`fastmed.train.recipes.label_efficiency.labelled_subset`); the batch size is capped at the
        subset's size. The held-out series stay the same.
    """

    store: str = ""
    patch_size: list[int] | None = None
    batch_size: int = 4
    num_workers: int = 0
    holdout: float = 0.25
    label_keys: list[str] = field(default_factory=lambda: ["lesion_present"])
    mask_ratio: float = 0.75
    report_max_len: int = 64
    vocab_size: int = 400
    eval_batch_size: int = 4
    foreground_prob: float = 0.0
    whole_volume: bool = False
    intensity_clip: list[float] | None = None
    clip_by_modality: dict[str, list[float]] = field(default_factory=dict)
    modalities: list[str] | None = None
    label_fraction: float = 1.0
    random_flip: float = 0.0
    tta_flips: bool = False


@dataclass
class ModelConfig:
    """Network choice.

    Parameters
    ----------
    name
        Named ViT size (``vit3d_tiny``, ``vit2d_tiny``, ``vit3d_small``, ``vit2d_small``).
    img_size
        Override of the model's input size per spatial axis (multiples of the patch size).
    norm_pix
        ``mae``: normalise each target patch (MAE's ``norm_pix_loss``); False: z-scored voxels as they are.
    head
        ``cls``: ``"linear"`` (linear probe, frozen encoder) or ``"full"`` (full fine-tune).
    pool
        ``cls``: ``"max"`` over the encoder's output tokens (a small finding anywhere in the volume drives
        a feature), ``"mean"``, or ``"meanmax"`` (both, concatenated).
    probe_blocks
        ``cls``: also pool the raw outputs of the encoder's last ``probe_blocks`` transformer blocks beside its
        final tokens (DINO's ``n_last_blocks`` linear evaluation; see
        :class:`fastmed.train.models.heads.Classifier`); 0: the final tokens only.
    probe_solver
        ``cls`` linear probe: ``"adamw"`` trains the head with the run's optimizer steps on each batch;
        ``"lbfgs"`` encodes ``trainer.max_steps`` training batches once (augmentation included) and fits the
        head to convergence with full-batch L-BFGS (:func:`fastmed.train.engine.probe_fit.fit_linear_probe`),
        as CLIP's linear evaluation fits scikit-learn's logistic regression. One process only.
    probe_l2, probe_iters
        ``lbfgs``: L2 penalty on the head's weights (added to the mean loss) and the most L-BFGS iterations.
    lora, lora_r, lora_alpha
        ``cls`` / ``seg``: LoRA adapters on the encoder's attention projections (the rest frozen).
    feature_size
        ``seg``: UNETR decoder channels at full resolution.
    n_classes
        ``seg``: output classes, background included (2: lesion vs background).
    batch_dice
        ``seg``: the Dice term pools every patch of the batch (nnU-Net's batch Dice) instead of averaging
        per-patch Dice, so patches without lesion voxels do not push the model towards predicting none.
    embed_dim, text_width, text_depth, init_temperature
        ``clip``: shared embedding width, text transformer size, starting softmax temperature.
    clip_pool
        ``clip``: image-token pooling, ``"mean"``, ``"max"`` or ``"meanmax"`` (both concatenated; see
        :class:`fastmed.train.models.clip.CLIP`).
    shared_positives
        ``clip``: pairs of a batch with identical reports (templated normal reports, series of one study) are
        matches of each other in the loss rather than negatives (see :func:`fastmed.train.models.clip.clip_loss`).
    """

    name: str = "vit3d_tiny"
    img_size: list[int] | None = None
    norm_pix: bool = True
    head: str = "linear"
    pool: str = "max"
    probe_blocks: int = 0
    probe_solver: str = "adamw"
    probe_l2: float = 1e-3
    probe_iters: int = 200
    lora: bool = False
    lora_r: int = 4
    lora_alpha: float = 8.0
    feature_size: int = 16
    n_classes: int = 2
    batch_dice: bool = False
    embed_dim: int = 64
    text_width: int = 64
    text_depth: int = 2
    init_temperature: float = 0.3
    shared_positives: bool = True
    clip_pool: str = "meanmax"


@dataclass
class TrainerConfig:
    """Optimisation and bookkeeping.

    Parameters
    ----------
    max_steps
        Optimizer steps.
    lr, weight_decay
        AdamW settings.
    precision
        ``"fp32"``, ``"bf16"`` (CPU or GPU) or ``"fp16"`` (GPU, with a grad scaler).
    accumulate
        Micro-batches per optimizer step.
    log_every
        Steps between log records (the last step is always logged).
    ckpt_every
        Steps between checkpoints (0: only at the end).
    device
        ``"cpu"`` or ``"cuda"`` (under torchrun each rank takes ``cuda:LOCAL_RANK``).
    threads
        torch intra-op threads (``None``: leave torch's setting).
    resume
        Continue from ``run_dir/checkpoint`` when it exists.
    schedule, warmup_steps
        Learning-rate schedule (``"constant"`` or ``"cosine"`` decay to ~0 at ``max_steps``) after
        ``warmup_steps`` of linear warmup (:func:`~fastmed.train.recipes.schedule.lr_factor`).
    """

    max_steps: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.05
    precision: str = "fp32"
    accumulate: int = 1
    log_every: int = 10
    ckpt_every: int = 0
    device: str = "cpu"
    threads: int | None = None
    resume: bool = True
    schedule: str = "constant"
    warmup_steps: int = 0


@dataclass
class RunConfig:
    """One training run.

    Parameters
    ----------
    task
        ``"mae"``, ``"clip"``, ``"cls"`` or ``"seg"``.
    seed
        Seeds the model initialisation, the loader's order and augmentation, the MAE masks and the split.
    data, model, trainer
        See :class:`DataConfig`, :class:`ModelConfig`, :class:`TrainerConfig`.
    pretrained
        A checkpoint folder (or its ``model.safetensors``) of an earlier MAE / CLIP / fine-tuning run whose
        ViT encoder initialises this run's encoder.
    out_dir
        Parent of the run folder when ``run_dir`` is not given (``out_dir/<task>``).
    run_dir
        The run folder: ``config.yaml``, ``metrics.jsonl``/``.csv``, ``metrics.json``, ``checkpoint/``.
    """

    task: str = "mae"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    pretrained: str | None = None
    out_dir: str = "runs"
    run_dir: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")

    def resolved_run_dir(self) -> Path:
        """The run folder: ``run_dir``, or ``out_dir/<task>``."""
        return Path(self.run_dir) if self.run_dir else Path(self.out_dir) / self.task

    def to_dict(self) -> dict[str, Any]:
        """The tree as plain dicts and lists (what ``config.yaml`` holds)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from nested dicts (e.g. a loaded ``config.yaml``); unknown keys are an error."""
        out: RunConfig = _build(cls, d)
        return out


def _build(kind: type, d: dict[str, Any]) -> Any:
    known = {f.name: f for f in fields(kind)}
    unknown = set(d) - set(known)
    if unknown:
        raise ValueError(f"{kind.__name__}: unknown keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in d.items():
        sub = (
            {"data": DataConfig, "model": ModelConfig, "trainer": TrainerConfig}.get(name)
            if kind is RunConfig
            else None
        )
        kwargs[name] = _build(sub, value) if sub is not None and isinstance(value, dict) else value
    obj = kind(**kwargs)
    assert is_dataclass(obj)
    return obj


CHOICES: dict[str, tuple[str, ...]] = {
    "trainer.precision": ("fp32", "bf16", "fp16"),
    "trainer.device": ("cpu", "cuda"),
    "trainer.schedule": ("constant", "cosine"),
    "model.head": ("linear", "full"),
    "model.pool": ("max", "mean", "meanmax"),
    "model.probe_solver": ("adamw", "lbfgs"),
    "model.clip_pool": ("mean", "max", "meanmax"),
}
"""The allowed values of the string settings (the engine and model modules check the same sets)."""


def config_problems(cfg: RunConfig) -> list[str]:
    """Every setting of ``cfg`` that a run would refuse, each named by its override key (empty when sound).

    Checked before any data is read, so that ``fastmed pretrain|finetune`` can refuse a bad command line at once
    (exit code 2) instead of failing after the store is opened: named choices, the model's name, the patch and
    input sizes against the model's patch size, fp16 off CUDA, and the numeric ranges.
    """
    from fastmed.train.models.config import CONFIGS

    problems: list[str] = []
    values = {
        "trainer.precision": cfg.trainer.precision,
        "trainer.device": cfg.trainer.device.split(":")[0],
        "trainer.schedule": cfg.trainer.schedule,
        "model.head": cfg.model.head,
        "model.pool": cfg.model.pool,
        "model.probe_solver": cfg.model.probe_solver,
        "model.clip_pool": cfg.model.clip_pool,
    }
    for key, value in values.items():
        if value not in CHOICES[key]:
            problems.append(f"{key}={value!r}: choose one of {list(CHOICES[key])}")
    if cfg.trainer.precision == "fp16" and values["trainer.device"] != "cuda":
        problems.append("trainer.precision='fp16' needs trainer.device=cuda: use bf16 on CPU")
    if cfg.model.name not in CONFIGS:
        problems.append(f"model.name={cfg.model.name!r}: choose one of {sorted(CONFIGS)} (model=NAME)")
    else:
        vit = CONFIGS[cfg.model.name]
        for key, size in (("data.patch_size", cfg.data.patch_size), ("model.img_size", cfg.model.img_size)):
            if size is None:
                continue
            if len(size) != vit.spatial_dims:
                problems.append(f"{key}={list(size)}: {cfg.model.name} needs {vit.spatial_dims} sizes")
            elif any(int(s) <= 0 or int(s) % p for s, p in zip(size, vit.patch_size, strict=True)):
                problems.append(f"{key}={list(size)}: each size must be a multiple of the patch {list(vit.patch_size)}")
        if not 0 <= cfg.model.probe_blocks <= vit.depth:
            depth = f"in [0, {vit.depth}] ({cfg.model.name}'s depth)"
            problems.append(f"model.probe_blocks={cfg.model.probe_blocks}: {depth}")
    ranges = [
        ("trainer.max_steps", cfg.trainer.max_steps >= 1, ">= 1"),
        ("trainer.accumulate", cfg.trainer.accumulate >= 1, ">= 1"),
        ("trainer.lr", cfg.trainer.lr > 0, "> 0"),
        ("trainer.warmup_steps", cfg.trainer.warmup_steps >= 0, ">= 0"),
        ("data.batch_size", cfg.data.batch_size >= 1, ">= 1"),
        ("data.eval_batch_size", cfg.data.eval_batch_size >= 1, ">= 1"),
        ("data.num_workers", cfg.data.num_workers >= 0, ">= 0"),
        ("data.holdout", 0.0 <= cfg.data.holdout < 1.0, "in [0, 1)"),
        ("data.mask_ratio", 0.0 <= cfg.data.mask_ratio < 1.0, "in [0, 1)"),
        ("data.foreground_prob", 0.0 <= cfg.data.foreground_prob <= 1.0, "in [0, 1]"),
        ("data.random_flip", 0.0 <= cfg.data.random_flip <= 1.0, "in [0, 1]"),
        ("model.probe_l2", cfg.model.probe_l2 >= 0.0, ">= 0"),
        ("model.probe_iters", cfg.model.probe_iters >= 1, ">= 1"),
        ("data.label_fraction", 0.0 < cfg.data.label_fraction <= 1.0, "in (0, 1]"),
    ]
    for key, ok, want in ranges:
        if not ok:
            group, name = key.split(".")
            problems.append(f"{key}={getattr(getattr(cfg, group), name)}: must be {want}")
    lbfgs_probe = cfg.task == "cls" and cfg.model.head == "linear" and not cfg.model.lora
    if cfg.model.probe_solver == "lbfgs" and not lbfgs_probe:
        problems.append("model.probe_solver='lbfgs': fits a linear probe only (task cls, model.head=linear, no LoRA)")
    if cfg.data.clip_by_modality and cfg.task == "seg" and cfg.data.foreground_prob > 0:
        # fm.LabelPatchSampler's path builds one Compose from the ops for every series (fastmed.loader.patches)
        problems.append(
            "data.clip_by_modality: not with data.foreground_prob > 0 (the patch sampler runs one Compose for every "
            "series); train on one modality with data.modalities and data.intensity_clip"
        )
    for modality, window in cfg.data.clip_by_modality.items():
        if len(window) != 2 or not float(window[0]) < float(window[1]):
            problems.append(f"data.clip_by_modality.{modality}={list(window)}: must be [low, high] with low < high")
    if not cfg.data.store:
        problems.append("data.store is empty: give the store folder (data.store=cache.zarr, from `fastmed convert`)")
    return problems


def check_config(cfg: RunConfig) -> None:
    """Raise ``ValueError`` listing every problem :func:`config_problems` finds."""
    problems = config_problems(cfg)
    if problems:
        raise ValueError("; ".join(problems))
