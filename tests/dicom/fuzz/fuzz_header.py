"""atheris fuzz target for the native DICOM parser (and the pixel path behind it).

Run: python tests/dicom/fuzz/fuzz_header.py CORPUS_DIR -runs=N (libFuzzer flags).
Any exception other than a fastmed DicomError (or a crash of the process) is a bug.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from fastmed.dicom import read_header, read_pixels
    from fastmed.errors import DicomError


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' required name
    try:
        h = read_header(data)
    except DicomError:
        return
    if h.pixels is not None and len(data) < (1 << 20):
        try:
            read_pixels(data)
        except DicomError:
            pass


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
