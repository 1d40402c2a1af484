"""The run report: one Markdown and one HTML file (same content) with PNG plots beside them.

Sections: a summary table (what the caller measured), throughput against peers (one table per bench
results file), training throughput and data wait (with the bottleneck of each run), the loss curves, the
augmentation montage, the probe's AUROC with its ROC curve, and the label-efficiency curve. Every number
in the text is formatted once here from the inputs (:func:`fmt_rate`, :func:`fmt_percent`,
:func:`fmt_auroc`, :func:`fmt_loss`).
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fastmed.train.metrics.auroc import auroc as auroc_of
from fastmed.train.metrics.label_efficiency import save_label_efficiency_plot
from fastmed.train.report.peers import PeerTable, Rate
from fastmed.train.report.plots import save_data_wait_plot, save_loss_plot, save_roc_plot, save_throughput_plot
from fastmed.train.report.roc import roc_curve
from fastmed.train.report.runs import LabelCurve, RunSummary

Block = tuple[str, ...] | tuple[str, Sequence[str], Sequence[Sequence[str]]]


def fmt_rate(v: float) -> str:
    """Items per second as the report prints them."""
    return f"{v:,.1f}"


def fmt_percent(fraction: float) -> str:
    """A fraction as a percentage."""
    return f"{100.0 * fraction:.1f} %"


def fmt_auroc(v: float) -> str:
    """An AUROC."""
    return f"{v:.3f}"


def fmt_loss(v: float) -> str:
    """A loss value."""
    return f"{v:.4f}"


@dataclass
class ReportInputs:
    """Everything a report shows.

    Parameters
    ----------
    title
        Report heading.
    facts
        Summary rows ``(what, value)`` (pipeline steps and their timings, ...).
    peers
        Throughput of fastmed and its peers: a bench results table, several, or None.
    runs
        Training runs (throughput, data wait, losses).
    montage
        Augmentation montage PNG (copied next to the report), or None.
    probe_labels, probe_scores
        Held-out labels and scores of the linear probe: the AUROC and ROC curve are computed here.
    probe_name
        What the probe predicts.
    label_efficiency
        The held-out metric against the fraction of training labels, or None.
    notes
        Closing paragraphs.
    """

    title: str = "fastmed run report"
    facts: list[tuple[str, str]] = field(default_factory=list)
    peers: PeerTable | Sequence[PeerTable] | None = None
    runs: list[RunSummary] = field(default_factory=list)
    montage: Path | None = None
    probe_labels: npt.ArrayLike | None = None
    probe_scores: npt.ArrayLike | None = None
    probe_name: str = "lesion present"
    label_efficiency: LabelCurve | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFiles:
    """Where a report was written."""

    markdown: Path
    html: Path
    images: dict[str, Path]
    auroc: float | None


def write_report(inputs: ReportInputs, out_dir: str | PathLike[str]) -> ReportFiles:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` into ``out_dir``."""
    out = Path(out_dir)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    images: dict[str, Path] = {}
    blocks: list[Block] = [("h1", inputs.title)]
    if inputs.facts:
        blocks += [("h2", "Summary"), ("table", ("step", "result"), [list(f) for f in inputs.facts])]
    tables = [inputs.peers] if isinstance(inputs.peers, PeerTable) else list(inputs.peers or [])
    if tables:
        blocks.append(("h2", "Throughput against peers"))
    for i, table in enumerate(tables):
        key = "throughput" if i == 0 else f"throughput_{i}"
        images[key] = save_throughput_plot(table, plots / f"{key}.png")
        blocks += _peer_blocks(table, f"plots/{key}.png")
    if inputs.runs:
        images["data_wait"] = save_data_wait_plot(inputs.runs, plots / "data_wait.png")
        blocks += _run_blocks(inputs.runs)
        if any(r.losses for r in inputs.runs):
            images["loss"] = save_loss_plot(inputs.runs, plots / "loss.png")
            blocks += [("h2", "Loss curves"), ("img", "loss per optimizer step", "plots/loss.png")]
    if inputs.montage is not None:
        images["montage"] = Path(shutil.copyfile(inputs.montage, plots / "montage.png"))
        blocks += [
            ("h2", "Augmentation montage"),
            ("p", "Mid slices of original patches (left) and R3D-augmented patches of the same volume."),
            ("img", "augmentation montage", "plots/montage.png"),
        ]
    value = None
    if inputs.probe_labels is not None and inputs.probe_scores is not None:
        value, probe_blocks = _probe_blocks(inputs, plots, images)
        blocks += probe_blocks
    if inputs.label_efficiency is not None:
        blocks += _label_blocks(inputs.label_efficiency, plots, images)
    for note in inputs.notes:
        blocks.append(("p", note))
    md = out / "report.md"
    md.write_text(to_markdown(blocks))
    page = out / "report.html"
    page.write_text(to_html(blocks, inputs.title))
    return ReportFiles(md, page, images, value)


def _faster_by(t: PeerTable, r: Rate) -> str:
    if r.subject:
        return "1.0x (fastmed)"
    ratio = t.subject_rate / r.rate
    return f"{ratio:.1f}x" if ratio >= 1.0 else f"{ratio:.2f}x (fastmed slower)"


def _peer_blocks(t: PeerTable, image: str) -> list[Block]:
    rows = [[r.name, fmt_rate(r.rate), _faster_by(t, r)] for r in sorted(t.rates, key=lambda r: -r.rate)]
    unit = t.rates[0].unit
    return [
        ("p", f"Source: {t.source}."),
        ("table", ("implementation", f"{unit}/s", "fastmed faster by"), rows),
        ("img", f"throughput against peers: {t.suite} {t.case}", image),
    ]


def _label_blocks(c: LabelCurve, plots: Path, images: dict[str, Path]) -> list[Block]:
    rows = [
        [f"{100.0 * f:g} %", str(n), fmt_auroc(s) if np.isfinite(s) else "undefined"]
        for f, n, s in zip(c.fractions, c.labelled, c.scores, strict=True)
    ]
    images["label_efficiency"] = save_label_efficiency_plot(
        c.fractions,
        c.scores,
        plots / "label_efficiency.png",
        metric=f"held-out {c.metric}",
        title=f"label efficiency ({c.holdout} held-out series)",
        annotations=[f"n={n}" for n in c.labelled],
    )
    return [
        ("h2", "Label efficiency"),
        (
            "p",
            f"The same recipe trained on a fraction of the training labels (stratified by class, at least one "
            f"series of each, nested, seeded) and scored on the same {c.holdout} held-out series.",
        ),
        ("table", ("labels used", "training series", f"held-out {c.metric}"), rows),
        ("img", "label-efficiency curve", "plots/label_efficiency.png"),
    ]


def _run_blocks(runs: Sequence[RunSummary]) -> list[Block]:
    rows = [
        [
            r.name,
            str(r.steps),
            fmt_rate(r.samples_per_s),
            fmt_percent(r.data_wait_fraction),
            r.bottleneck,
            fmt_loss(r.losses[0]) if r.losses else "-",
            fmt_loss(r.losses[-1]) if r.losses else "-",
        ]
        for r in runs
    ]
    verdict = "; ".join(
        f"{r.name}: the {'data' if r.bottleneck == 'data' else 'model'} side is the bottleneck "
        f"({fmt_percent(r.data_wait_fraction)} of the loop waiting for batches)"
        for r in runs
    )
    verdict += (
        ". A run is data-bound when the training loop spends at least half its time waiting for the loader's "
        "next batch, model-bound otherwise"
    )
    return [
        ("h2", "Training throughput and data wait"),
        ("table", ("run", "steps", "samples/s", "data wait", "bottleneck", "first loss", "last loss"), rows),
        ("p", verdict + "."),
        ("img", "data wait per run", "plots/data_wait.png"),
    ]


def _probe_blocks(inputs: ReportInputs, plots: Path, images: dict[str, Path]) -> tuple[float, list[Block]]:
    y = np.asarray(inputs.probe_labels).reshape(-1)
    s = np.asarray(inputs.probe_scores, dtype=np.float64).reshape(-1)
    n_pos = int(y.sum())
    head = f"Linear probe for {inputs.probe_name} on {y.size} held-out samples ({n_pos} positive)"
    if n_pos in (0, y.size):
        return float("nan"), [("h2", "Linear probe"), ("p", head + ": one class only, AUROC undefined.")]
    value = auroc_of(y, s)
    fpr, tpr, _ = roc_curve(y, s)
    images["roc"] = save_roc_plot(fpr, tpr, value, plots / "roc.png", f"linear probe: {inputs.probe_name}")
    return value, [
        ("h2", "Linear probe"),
        ("p", f"{head}: AUROC {fmt_auroc(value)}."),
        ("img", "ROC curve", "plots/roc.png"),
    ]


def to_markdown(blocks: Sequence[Block]) -> str:
    """Markdown of the blocks."""
    parts: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h1":
            parts.append(f"# {b[1]}")
        elif kind == "h2":
            parts.append(f"## {b[1]}")
        elif kind == "p":
            parts.append(str(b[1]))
        elif kind == "img":
            parts.append(f"![{b[1]}]({b[2]})")
        elif kind == "table":
            header, rows = b[1], b[2]
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def to_html(blocks: Sequence[Block], title: str) -> str:
    """A standalone HTML page of the blocks (images by relative path)."""
    e = html.escape
    body: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{e(str(b[1]))}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(str(b[1]))}</p>")
        elif kind == "img":
            body.append(f'<p><img src="{e(str(b[2]))}" alt="{e(str(b[1]))}"></p>')
        elif kind == "table":
            header, rows = b[1], b[2]
            head = "".join(f"<th>{e(str(h))}</th>" for h in header)
            trs = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
        "img{max-width:100%}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{style}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
