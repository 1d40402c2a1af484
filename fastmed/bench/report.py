"""Benchmark reports: JSON (with commit, versions, CPU), a Markdown table and a PNG plot."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
from collections import defaultdict
from pathlib import Path
from typing import Any

from fastmed.bench.harness import CaseResult, ratios

PEER_PACKAGES = (
    "fastmed",
    "numpy",
    "torch",
    "pydicom",
    "monai",
    "torchio",
    "batchgeneratorsv2",
    "SimpleITK",
    "nibabel",
    "scipy",
    "imagecodecs",
    "pylibjpeg",
    "nvidia-dali-cuda120",
    "cupy-cuda12x",
    "zarr",
)


def build_info() -> dict[str, Any]:
    """Version, commit and dirty flag recorded when this fastmed was built.

    They come from ``fastmed/_build_info.py``, written by setup.py; "unknown" when the build did
    not record them. Never the commit of whatever git repository surrounds the installed package.
    """
    try:
        _build_info = importlib.import_module("fastmed._build_info")
    except ImportError:
        return {"version": "unknown", "commit": "unknown", "dirty": None}
    return {
        "version": getattr(_build_info, "VERSION", "unknown"),
        "commit": getattr(_build_info, "COMMIT", "unknown"),
        "dirty": getattr(_build_info, "DIRTY", None),
    }


def environment() -> dict[str, Any]:
    """Commit, package versions, CPU and thread facts for a report."""
    versions = {}
    for pkg in PEER_PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            continue
    build = build_info()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "commit": build["commit"],
        "dirty": build["dirty"],
        "fastmed_version": build["version"],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "versions": versions,
    }


def to_json(suite: str, results: list[CaseResult], missing: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The report as one JSON-ready dict."""
    by_case: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        by_case[_case_key(r)].append(r)
    return {
        "suite": suite,
        "environment": environment(),
        "results": [r.to_dict() for r in results],
        "ratios": {k: ratios(v) for k, v in by_case.items()},
        "missing_peers": missing,
    }


def _case_key(r: CaseResult) -> str:
    return r.case if r.threads is None else f"{r.case} [{r.threads} thr]"


def to_markdown(suite: str, results: list[CaseResult], missing: dict[str, dict[str, str]]) -> str:
    """A Markdown table: one row per (case, implementation), with the ratio to fastmed."""
    lines = [
        f"## Benchmark `{suite}`",
        "",
        "| case | threads | impl | median ms | IQR ms | rate /s | peer / fastmed |",
        "|---|---|---|---|---|---|---|",
    ]
    by_case: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        by_case[_case_key(r)].append(r)
    for rs in by_case.values():
        rat = ratios(rs)
        for r in rs:
            if r.is_fastmed:
                ratio = "1.00 (subject)"
            elif r.impl not in rat:
                # fastmed itself was not run in this case (e.g. its engine is missing here)
                ratio = "n/a (no fastmed row)" + (" (floor)" if r.floor else "")
            else:
                x = rat[r.impl]
                tag = " (floor)" if r.floor else (" **fastmed slower**" if x < 1 else "")
                ratio = f"{x:.2f}x{tag}"
            lines.append(
                f"| {r.case} | {r.threads if r.threads is not None else '-'} | {r.impl} | "
                f"{r.median_s * 1e3:.3f} | {r.iqr_s * 1e3:.3f} | {r.rate:,.1f} {r.unit} | {ratio} |"
            )
    extras = [r for r in results if r.extra]
    if extras:
        lines += ["", "| case | threads | impl | " + "extra figures |", "|---|---|---|---|"]
        for r in extras:
            figs = ", ".join(f"{k} {v:.3f}" if abs(v) < 10 else f"{k} {v:,.1f}" for k, v in r.extra.items())
            lines.append(f"| {r.case} | {r.threads if r.threads is not None else '-'} | {r.impl} | {figs} |")
    absent = sorted({f"{p} ({why})" for m in missing.values() for p, why in m.items()})
    if absent:
        lines += ["", "Peers not run: " + ", ".join(absent)]
    env = environment()
    dirty = " (dirty)" if env["dirty"] else ""
    lines += ["", f"commit {env['commit']}{dirty}, {env['cpu']}, {env['cpu_count']} CPUs, Python {env['python']}"]
    return "\n".join(lines) + "\n"


def to_png(suite: str, results: list[CaseResult], path: Path) -> bool:
    """A horizontal bar plot of median time per case and implementation; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels = [f"{_case_key(r)} · {r.impl}" for r in results]
    values = [r.median_s * 1e3 for r in results]
    errs = [r.iqr_s * 1e3 / 2 for r in results]
    colors = ["tab:orange" if r.is_fastmed else ("tab:gray" if r.floor else "tab:blue") for r in results]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(results) + 1.2))
    ax.barh(range(len(values)), values, xerr=errs, color=colors)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median ms per call (log; orange = fastmed, grey = floor)")
    ax.set_title(f"fastmed benchmark: {suite}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_reports(
    suite: str, results: list[CaseResult], missing: dict[str, dict[str, str]], out_dir: Path
) -> dict[str, Path]:
    """Write ``<suite>.json``, ``<suite>.md`` and ``<suite>.png`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{suite}.json", "md": out_dir / f"{suite}.md"}
    paths["json"].write_text(json.dumps(to_json(suite, results, missing), indent=2))
    paths["md"].write_text(to_markdown(suite, results, missing))
    png = out_dir / f"{suite}.png"
    if to_png(suite, results, png):
        paths["png"] = png
    return paths
