"""atheris fuzz target for the native DICOM parser (and the pixel path behind it).

Run: python tests/dicom/fuzz/fuzz_header.py CORPUS_DIR -runs=N (libFuzzer flags).
Any exception other than a fastmed DicomError (or a crash of the process) is a bug.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import atheris

with atheris.instrument_imports():
    from exercise import exercise  # type: ignore[import-not-found]


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' required name
    exercise(data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
