"""Radiology-style reports whose findings match the phantom's lesions."""

from __future__ import annotations

from collections.abc import Sequence

from fastmed.synth.lesions import Lesion

_NUMBERS = ("No", "One", "Two", "Three", "Four", "Five", "Six")

_EXAM = {
    "CT": "CT chest and upper abdomen without contrast",
    "MR": "MRI chest and upper abdomen, T1- and T2-weighted",
    "CR": "Chest radiograph, PA view",
    "DX": "Chest radiograph, PA view",
}


def _describe(les: Lesion, kind: str) -> str:
    size = f"{les.diameter_mm} mm"
    lung = "lung" in les.organ
    if kind == "CT":
        what = "solid nodule" if lung else f"{les.kind} lesion"
        return f"A {size} {what} in the {les.location} (mean attenuation about {les.hu:.0f} HU)."
    if kind == "MR":
        t2 = "hyperintense" if les.kind != "hyperdense" else "hypointense"
        what = "nodule" if lung else "lesion"
        return f"A {size} T2 {t2} {what} in the {les.location}."
    what = "nodular opacity" if lung else "rounded density"
    return f"A {size} {what} projecting over the {les.location}."


def count_phrase(n: int) -> str:
    """``"No focal lesion."``, ``"One focal lesion."``, ``"Two focal lesions."`` ..."""
    if n == 0:
        return "No focal lesion."
    word = _NUMBERS[n] if n < len(_NUMBERS) else str(n)
    return f"{word} focal lesion{'s' if n > 1 else ''}."


def write_report(kind: str, lesions: Sequence[Lesion]) -> str:
    """Return the report text of a study of ``kind`` (CT, MR, CR, DX) with these lesions."""
    lines = ["EXAMINATION: " + _EXAM[kind], "", "FINDINGS:"]
    if lesions:
        lines += [f"{i + 1}. {_describe(les, kind)}" for i, les in enumerate(lesions)]
    else:
        lines.append("Lungs are clear. Liver is homogeneous. No focal lesion.")
    lines += ["Osseous structures are unremarkable.", "", "IMPRESSION:", count_phrase(len(lesions))]
    return "\n".join(lines) + "\n"
