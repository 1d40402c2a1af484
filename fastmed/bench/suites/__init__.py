"""Built-in benchmark suites; importing this module registers them."""

from fastmed.bench.suites import dicom_read, rng  # noqa: F401
