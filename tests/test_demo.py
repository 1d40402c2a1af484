"""`fastmed demo` runs end to end, its geometry check agrees with the ground truth, and it prints no PHI."""

from __future__ import annotations

import pytest

from fastmed.cli import main


def test_demo_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--studies", "3", "--patches", "8", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "geometry vs ground truth: all match" in out
    assert "replay from params identical: True" in out
    assert "SYNTH^" not in out  # synthetic patient names never reach the output
    for line in ("1. synthesized", "2. indexed", "3. assembled", "4. cut", "5. joined", "6. converted"):
        assert line in out
    assert "re-run: 0 converted" in out and "verify: ok" in out
    assert "equal the DICOM read: True" in out


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "synth", "index", "bench"):
        assert cmd in out
