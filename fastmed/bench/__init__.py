"""Benchmark harness: suites run fastmed and its installed peers in one process on the same data."""

from fastmed.bench.harness import Case, CaseResult, Impl, measure
from fastmed.bench.registry import SUITES, get_suite, register_suite

__all__ = ["SUITES", "Case", "CaseResult", "Impl", "get_suite", "measure", "register_suite"]
