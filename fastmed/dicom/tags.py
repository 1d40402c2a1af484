"""The default tag set and the mapping of user tag specs to ``(tag, VR)`` requests.

The default set is what series assembly, pixel decoding and the archive index need:
identity (UIDs, as keyed hashes downstream), geometry, pixel module and rescale.
"""

from __future__ import annotations

from collections.abc import Iterable

TagSpec = int | str | tuple[int, int]

# keyword -> (tag, VR). VR is the dictionary VR, used when the file is implicit VR.
DEFAULT_TAGS: dict[str, tuple[int, str]] = {
    "TransferSyntaxUID": (0x00020010, "UI"),
    "SpecificCharacterSet": (0x00080005, "CS"),
    "ImageType": (0x00080008, "CS"),
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "Modality": (0x00080060, "CS"),
    "SliceThickness": (0x00180050, "DS"),
    "SpacingBetweenSlices": (0x00180088, "DS"),
    "GantryDetectorTilt": (0x00181120, "DS"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "SeriesNumber": (0x00200011, "IS"),
    "AcquisitionNumber": (0x00200012, "IS"),
    "InstanceNumber": (0x00200013, "IS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageOrientationPatient": (0x00200037, "DS"),
    "FrameOfReferenceUID": (0x00200052, "UI"),
    "SliceLocation": (0x00201041, "DS"),
    "SamplesPerPixel": (0x00280002, "US"),
    "PhotometricInterpretation": (0x00280004, "CS"),
    "PlanarConfiguration": (0x00280006, "US"),
    "NumberOfFrames": (0x00280008, "IS"),
    "FrameIncrementPointer": (0x00280009, "AT"),
    "Rows": (0x00280010, "US"),
    "Columns": (0x00280011, "US"),
    "PixelSpacing": (0x00280030, "DS"),
    "BitsAllocated": (0x00280100, "US"),
    "BitsStored": (0x00280101, "US"),
    "HighBit": (0x00280102, "US"),
    "PixelRepresentation": (0x00280103, "US"),
    "WindowCenter": (0x00281050, "DS"),
    "WindowWidth": (0x00281051, "DS"),
    "RescaleIntercept": (0x00281052, "DS"),
    "RescaleSlope": (0x00281053, "DS"),
    "RescaleType": (0x00281054, "LO"),
    "GridFrameOffsetVector": (0x3004000C, "DS"),
    "SharedFunctionalGroupsSequence": (0x52009229, "SQ"),
    "PerFrameFunctionalGroupsSequence": (0x52009230, "SQ"),
}

_BY_TAG: dict[int, tuple[str, str]] = {tag: (kw, vr) for kw, (tag, vr) in DEFAULT_TAGS.items()}


def _dictionary_entry(tag: int) -> tuple[str, str]:
    """Keyword and VR of a tag from pydicom's data dictionary ('' / 'UN' if unknown)."""
    from pydicom.datadict import dictionary_keyword, dictionary_VR

    if (tag >> 16) % 2 == 1:  # private: the file's VR (explicit) or UN (implicit)
        return "", "UN"
    try:
        vr = str(dictionary_VR(tag))
        kw = str(dictionary_keyword(tag))
    except KeyError:
        return "", "UN"
    # Ambiguous dictionary VRs ("US or SS", "OB or OW"): the first reading of the value.
    return kw, vr.split(" or ")[0][:2]


def resolve(spec: TagSpec) -> tuple[int, str, str]:
    """Return ``(tag, keyword, vr)`` for a tag given as int, keyword or (group, element).

    Raises
    ------
    ValueError
        If a keyword is unknown or a tag is out of range.
    """
    if isinstance(spec, tuple):
        tag = (int(spec[0]) << 16) | int(spec[1])
    elif isinstance(spec, str):
        hit = DEFAULT_TAGS.get(spec)
        if hit is not None:
            return hit[0], spec, hit[1]
        from pydicom.datadict import tag_for_keyword

        found = tag_for_keyword(spec)
        if found is None:
            raise ValueError(f"unknown DICOM keyword {spec!r}")
        tag = int(found)
    else:
        tag = int(spec)
    if not 0 <= tag <= 0xFFFFFFFF:
        raise ValueError(f"tag {tag:#x} out of range")
    if tag in _BY_TAG:
        kw, vr = _BY_TAG[tag]
        return tag, kw, vr
    kw, vr = _dictionary_entry(tag)
    return tag, kw, vr


def requests(specs: Iterable[TagSpec] | None) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """Native request list ``[(tag, vr)]`` and the tag -> name map for the result dict.

    Names are keywords where known, else ``"(GGGG,EEEE)"``.
    """
    if specs is None:
        pairs = [(tag, vr) for tag, vr in DEFAULT_TAGS.values()]
        names = {tag: kw for kw, (tag, _) in DEFAULT_TAGS.items()}
        return pairs, names
    pairs = []
    names = {}
    for spec in specs:
        tag, kw, vr = resolve(spec)
        pairs.append((tag, vr))
        names[tag] = kw or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return pairs, names
