"""Built-in benchmark suites; importing this module registers them."""

from fastmed.bench.suites import augment_2d, augment_r3d, dicom_read, rng, store, store_read  # noqa: F401
