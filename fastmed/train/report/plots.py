"""The run report's plots (matplotlib Agg PNGs): peers' throughput, data wait, loss curves, ROC curve."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fastmed.train.metrics._figure import png_axes
from fastmed.train.report.peers import PeerTable
from fastmed.train.report.runs import RunSummary

SUBJECT = "#1f77b4"
PEER = "#9a9a9a"


def save_throughput_plot(table: PeerTable, path: str | PathLike[str]) -> Path:
    """Horizontal bars of items/s per implementation, fastmed highlighted."""
    rates = sorted(table.rates, key=lambda r: r.rate)
    with png_axes(path, (7.0, 0.45 * len(rates) + 1.4)) as ax:
        ax.barh([r.name for r in rates], [r.rate for r in rates], color=[SUBJECT if r.subject else PEER for r in rates])
        for i, r in enumerate(rates):
            ax.text(r.rate, i, f" {r.rate:.1f}", va="center", fontsize=8)
        ax.set_xlim(0, 1.15 * max(r.rate for r in rates))
        ax.set_xlabel(f"{rates[0].unit}/s")
        ax.set_title(f"{table.suite} {table.case}, {table.threads} thread(s)", fontsize=10)
        ax.figure.tight_layout()
    return Path(path)


def save_data_wait_plot(runs: Sequence[RunSummary], path: str | PathLike[str]) -> Path:
    """Stacked bars per run: the share of loop time spent waiting for data against computing."""
    names = [r.name for r in runs]
    wait = np.array([100.0 * r.data_wait_fraction for r in runs])
    with png_axes(path, (7.0, 0.5 * len(runs) + 1.4)) as ax:
        ax.barh(names, wait, color="#d62728", label="waiting for data")
        ax.barh(names, 100.0 - wait, left=wait, color=SUBJECT, label="model step")
        for i, w in enumerate(wait):
            ax.text(101, i, f"{w:.1f} % wait", va="center", fontsize=8)
        ax.set_xlim(0, 125)
        ax.set_xlabel("% of training-loop time")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
        ax.figure.tight_layout()
    return Path(path)


def save_loss_plot(runs: Sequence[RunSummary], path: str | PathLike[str]) -> Path:
    """Loss per optimizer step of every run that has losses (one line each)."""
    with png_axes(path, (7.0, 3.6)) as ax:
        for r in runs:
            if r.losses:
                ax.plot(np.arange(1, len(r.losses) + 1), r.losses, label=r.name, lw=1.2)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.figure.tight_layout()
    return Path(path)


def save_roc_plot(
    fpr: npt.NDArray[np.float64], tpr: npt.NDArray[np.float64], auroc: float, path: str | PathLike[str], title: str
) -> Path:
    """The ROC curve with the chance diagonal and the AUROC in the legend."""
    with png_axes(path, (4.2, 4.2)) as ax:
        ax.plot([0, 1], [0, 1], ls="--", color=PEER, lw=1, label="chance")
        ax.plot(fpr, tpr, color=SUBJECT, lw=1.6, drawstyle="default", label=f"AUROC {auroc:.3f}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
        ax.set_title(title, fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
        ax.figure.tight_layout()
    return Path(path)
