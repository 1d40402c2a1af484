"""Error types. Every failure on user data is one of these, naming the file and the reason.

Messages never carry patient-identifying values (names, IDs, dates, UIDs): only paths
the user gave, byte offsets, tag numbers and plain reasons.
"""

from __future__ import annotations

from os import PathLike


class FastmedError(Exception):
    """Base class of every error fastmed raises on user data."""


class DicomError(FastmedError):
    """A DICOM file could not be parsed or decoded.

    Parameters
    ----------
    reason
        Plain description of what is wrong.
    path
        The file (as given by the user), or ``None`` for in-memory bytes.
    offset
        Byte offset in the file where the problem was found, if known.
    """

    def __init__(self, reason: str, path: str | PathLike[str] | None = None, offset: int | None = None):
        self.reason = reason
        self.path = None if path is None else str(path)
        self.offset = offset
        where = self.path if self.path is not None else "<bytes>"
        at = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{where}{at}: {reason}")

    def __reduce__(self) -> tuple[type[DicomError], tuple[str, str | None, int | None]]:
        # Pickled with its fields (errors travel back from Dask workers and process pools).
        return (type(self), (self.reason, self.path, self.offset))


class DicomTruncatedError(DicomError):
    """The data ends before a structure it declares (element, item, fragment, pixels)."""


class DicomFormatError(DicomError):
    """The bytes are not valid DICOM (bad preamble, lying length, wrong VR, nesting bomb...)."""


class DicomUnsupportedError(DicomError):
    """Valid DICOM that fastmed cannot decode (unknown transfer syntax, missing codec)."""


class SeriesError(FastmedError):
    """A series cannot be assembled into a volume with valid geometry.

    Parameters
    ----------
    problems
        Every problem found (missing slice, duplicate position, ...), each a plain sentence.
    where
        The folder or series (by keyed id, never a raw UID) the problems belong to.
    """

    def __init__(self, problems: list[str], where: str = "series"):
        self.problems = list(problems)
        self.where = where
        super().__init__(f"{where}: " + "; ".join(self.problems))

    def __reduce__(self) -> tuple[type[SeriesError], tuple[list[str], str]]:
        return (type(self), (self.problems, self.where))


class TransformError(FastmedError):
    """A transform was configured or applied wrongly (bad shape, unsupported op on a backend)."""


class CacheError(FastmedError):
    """A cache entry is missing, corrupt (checksum mismatch) or of the wrong format."""
