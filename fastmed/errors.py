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


class KernelArgumentError(TransformError, ValueError):
    """The native kernel refused what it was given (bad shape, stride, dtype, NaN matrix, grid, padding...).

    Raised by ``fastmed._core`` itself, whatever the Python side checked before; a
    :class:`TransformError` and, for callers that catch those, a ``ValueError``.
    """


class CacheError(FastmedError):
    """A cache entry is missing, corrupt (checksum mismatch) or of the wrong format."""


class LoaderError(FastmedError):
    """The data loader could not deliver a sample or a batch.

    Parameters
    ----------
    reason
        Plain description: the cause (exception type and message) or the machinery failure.
    index
        The dataset index of the sample concerned, or ``None`` when the error is not about one sample.
    epoch
        The epoch the sample belongs to, if known.
    """

    def __init__(self, reason: str, index: int | None = None, epoch: int | None = None):
        self.reason = reason
        self.index = index
        self.epoch = epoch
        where = f"sample {index}" if index is not None else "loader"
        at = f" (epoch {epoch})" if epoch is not None and index is not None else ""
        super().__init__(f"{where}{at}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, int | None, int | None]]:
        return (type(self), (self.reason, self.index, self.epoch))


class LoaderUnsupportedError(LoaderError, NotImplementedError):
    """A loader option that only the (not yet available) native fast path supports."""
