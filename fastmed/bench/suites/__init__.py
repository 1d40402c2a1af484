"""Built-in benchmark suites; importing this module registers them."""

from fastmed.bench.suites import rng  # noqa: F401
