"""Replay inputs through an AddressSanitizer build: python asan_replay.py FILE_OR_DIR ...

Every file is exercised as is, then as deterministic mutations: truncated at many
lengths, and with bytes overwritten by 0x00 / 0xFF / a flip at many offsets (lengths
and tags live there). ASan aborts the process on any memory error, so exit code 0
means clean. atheris' coverage guidance does not work under a preloaded libasan,
which is why this runs without it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from exercise import exercise  # type: ignore[import-not-found]  # noqa: E402


def mutations(data: bytes, budget: int) -> list[bytes]:
    n = len(data)
    if n == 0:
        return []
    step = max(1, n // budget)
    out = [data[:k] for k in range(0, n, step)]
    for k in range(0, n, step):
        for byte in (0x00, 0xFF, data[k] ^ 0x80):
            out.append(data[:k] + bytes([byte]) + data[k + 1 :])
    return out


def main(argv: list[str]) -> int:
    files = []
    for a in argv:
        p = Path(a)
        files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    runs = 0
    for f in files:
        data = f.read_bytes()
        for variant in [data, *mutations(data, int(os.environ.get("FASTMED_ASAN_BUDGET", "200")))]:
            exercise(variant)
            runs += 1
    print(f"asan replay: {len(files)} files, {runs} inputs, clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
