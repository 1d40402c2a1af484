"""Throughput against peers, read from a ``fastmed bench`` results JSON (``bench/results/<suite>.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rate:
    """One implementation's throughput.

    Parameters
    ----------
    name
        Implementation (``fastmed``, ``monai``, ...).
    rate
        Items per second (median).
    unit
        What an item is (``patch``, ``slice``, ...).
    subject
        True for fastmed's own rows.
    """

    name: str
    rate: float
    unit: str
    subject: bool


@dataclass(frozen=True)
class PeerTable:
    """The rates of one bench case at one thread count, with where they came from."""

    suite: str
    case: str
    threads: int
    rates: tuple[Rate, ...]
    source: str

    @property
    def subject_rate(self) -> float:
        """The rate of the fastest fastmed row."""
        return max(r.rate for r in self.rates if r.subject)


def load_peer_table(path: str | PathLike[str], case: str | None = None, threads: int | None = None) -> PeerTable:
    """Rates of ``case`` (default: the file's first) at ``threads`` (default: the most measured).

    Floor rows (a memory-copy lower bound, not a peer) are left out.
    """
    doc: dict[str, Any] = json.loads(Path(path).read_text())
    rows = [r for r in doc["results"] if not r.get("floor", False)]
    if not rows:
        raise ValueError(f"{path}: no results")
    case = case if case is not None else str(rows[0]["case"])
    rows = [r for r in rows if r["case"] == case]
    if not rows:
        raise ValueError(f"{path}: no results for case {case!r}")
    threads = threads if threads is not None else max(int(r.get("threads", 1)) for r in rows)
    rows = [r for r in rows if int(r.get("threads", 1)) == threads]
    if not any(r.get("is_fastmed") for r in rows):
        raise ValueError(f"{path}: no fastmed row for case {case!r} at {threads} threads")
    env = doc.get("environment", {})
    source = (
        f"`fastmed bench {doc.get('suite', '?')}`, case {case}, {threads} thread(s), "
        f"{env.get('cpu', '?')} ({env.get('cpu_count', '?')} CPUs), commit {str(env.get('commit', '?'))[:10]}"
    )
    rates = tuple(
        Rate(str(r["impl"]), float(r["rate_per_s"]), str(r.get("unit", "item")), bool(r.get("is_fastmed")))
        for r in rows
    )
    return PeerTable(str(doc.get("suite", "?")), case, threads, rates, source)
