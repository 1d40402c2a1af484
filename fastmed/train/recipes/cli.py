"""``fastmed pretrain mae|clip`` and ``fastmed finetune cls|seg``: Hydra-composed runs of the recipes.

Configs come from the groups packaged in ``fastmed/train/conf`` (``data/``, ``model/``, ``trainer/``), composed
with Hydra's compose API and the command line's overrides (``data=synth model=vit3d_tiny trainer.max_steps=50
data.store=cache.zarr +key=...`` as Hydra users write them), then checked against :class:`RunConfig`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastmed.train.recipes.config import RunConfig, check_config

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
"""The packaged Hydra config folder (primary config ``run.yaml``)."""

COMMANDS = {"pretrain": ("mae", "clip"), "finetune": ("cls", "seg")}


def compose_config(task: str, overrides: Sequence[str] = (), config_dir: str | Path | None = None) -> RunConfig:
    """Compose the run configuration of ``task`` with Hydra overrides and check it against :class:`RunConfig`.

    Parameters
    ----------
    task
        ``"mae"``, ``"clip"``, ``"cls"`` or ``"seg"``.
    overrides
        Hydra override strings (``group=option``, ``key=value``, ``+new=value``, ``~key``).
    config_dir
        Another config folder with the same layout (default: the packaged one).

    Returns
    -------
    RunConfig
        The resolved configuration.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    ConfigStore.instance().store(name="fastmed_run_schema", node=RunConfig)
    folder = str(Path(config_dir or CONF_DIR).resolve())
    with initialize_config_dir(config_dir=folder, version_base="1.3", job_name=f"fastmed_{task}"):
        composed = compose(config_name="run", overrides=[f"task={task}", *overrides])
    schema = OmegaConf.structured(RunConfig)
    merged = OmegaConf.merge(schema, composed)
    # Hydra's "+key=value" opens the structured config for a new key, which to_object would carry along unseen:
    # from_dict refuses any key that is not a setting (a typo such as +trainer.max_step=3 is an error).
    tree = OmegaConf.to_container(merged, resolve=True)
    assert isinstance(tree, dict)
    return RunConfig.from_dict({str(k): v for k, v in tree.items()})


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pretrain``, ``finetune``, ``label-efficiency`` and ``export``."""
    for command, tasks in COMMANDS.items():
        verb = "Pretrain an encoder" if command == "pretrain" else "Fine-tune a (pretrained) encoder"
        p = subparsers.add_parser(
            command,
            help=f"{verb}: {' / '.join(tasks)} (Hydra overrides)",
            description=f"{verb} on a fastmed store. Overrides as in Hydra: data=synth model=vit3d_tiny "
            "trainer.max_steps=50 data.store=cache.zarr pretrained=runs/mae/checkpoint. "
            f"Config groups: {CONF_DIR}.",
        )
        p.add_argument("task", choices=tasks)
        p.add_argument("overrides", nargs="*", help="Hydra overrides (key=value, group=option)")
        p.add_argument("--cfg", action="store_true", help="print the resolved config and exit (no training)")
        p.set_defaults(func=_main)
    from fastmed.train.recipes import export, label_efficiency

    label_efficiency.add_parser(subparsers)
    export.add_parser(subparsers)


def cli_config(prog: str, task: str, overrides: Sequence[str]) -> RunConfig | None:
    """Compose and check a command line's configuration; on a problem print it (no traceback) and return None.

    Hydra's own errors (unknown key, wrong type, missing group option) and the settings
    :func:`~fastmed.train.recipes.config.config_problems` refuses are reported as ``PROG: bad configuration: ...``
    on stdout; the caller exits with code 2.
    """
    from fastmed.errors import FastmedError

    try:
        cfg = compose_config(task, overrides)
        check_config(cfg)
    except Exception as exc:  # Hydra / OmegaConf errors: say which override is wrong, no traceback
        if isinstance(exc, FastmedError):
            raise
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        print(f"{prog}: bad configuration: {exc}{cause}")
        return None
    return cfg


def run_errors() -> tuple[type[BaseException], ...]:
    """Errors a run raises for a problem with its inputs (store, labels, checkpoint): reported without traceback."""
    from fastmed.errors import FastmedError

    return (ValueError, FileNotFoundError, FastmedError)


def _main(args: argparse.Namespace) -> int:
    prog = f"fastmed {args.command} {args.task}"
    cfg = cli_config(prog, args.task, args.overrides)
    if cfg is None:
        return 2
    if args.cfg:
        import yaml

        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    from fastmed.train.recipes import run

    try:
        res = run(cfg)
    except run_errors() as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    summary: dict[str, Any] = {
        "run_dir": str(res.run_dir),
        "steps": len(res.losses),
        "loss_first": res.losses[0] if res.losses else None,
        "loss_last": res.losses[-1] if res.losses else None,
        "samples_per_s": round(res.samples_per_s, 2),
        "data_wait_fraction": round(res.data_wait_fraction, 4),
        "bottleneck": res.bottleneck,
        "metrics": {k: (v if v == v else None) for k, v in res.metrics.items()},  # NaN -> null, as metrics.json
    }
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one summary (rank 0 holds the logs and metrics)
        print(json.dumps(summary, indent=1))
    return 0
