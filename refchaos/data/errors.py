"""Errors raised by :mod:`refchaos.data`: every message names the file and what was expected.

A reader of a raw dataset file never lets a bare NumPy, gzip, bz2, h5py or pickle exception
escape: it is caught at the file boundary and re-raised as a :class:`CorruptDataError` whose
message names the file, what the format requires and what was found.
"""

from __future__ import annotations


class DataError(Exception):
    """Base class of every data-loading, verification and download error."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """No copy of a dataset was found; the message lists the places searched and the fix."""


class DataSizeWarning(UserWarning):
    """A dataset file reads cleanly but holds another number of examples than the publisher's."""


class CorruptDataError(DataError, ValueError):
    """A dataset file exists but is truncated, corrupt or not in the expected format."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ChecksumMismatchError(CorruptDataError):
    """A file's checksum differs from the one its publisher gives."""

    def __init__(self, path, algorithm, expected, actual, url=None):
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        self.url = url
        source = f" (downloaded from {url})" if url else ""
        super().__init__(
            path,
            f"{algorithm} checksum mismatch{source}: expected {expected}, got {actual}",
        )


class DownloadError(DataError, OSError):
    """A download failed (connection refused or cut, HTTP error); nothing was kept."""

    def __init__(self, path, url, reason):
        self.path = str(path)
        self.url = url
        self.reason = reason
        super().__init__(f"downloading {url} to {self.path} failed: {reason}")
