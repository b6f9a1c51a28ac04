"""Atomic file writers: a file either holds its complete new content or is left untouched.

Every writer goes through :func:`atomic_open`: it writes to a temporary file in the *same*
directory as the target (so the final rename never crosses a file system), flushes and
``fsync``\\ s it, then ``os.replace``\\ s it onto the target, which POSIX and Windows perform
atomically. If anything raises inside the ``with`` block, the temporary file is removed and the
target is not touched, so a crash, a full disk or a failed checksum never leaves a half-written
file that looks valid. Run directories (checkpoints, metrics) and downloads share this code.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

TEMP_SUFFIX = ".part"  # Marks an unfinished temporary file; never a valid data file name.


def _new_file_mode():
    """Permissions ``open(path, "w")`` would give a new file: 0o666 less the process umask.

    ``tempfile.mkstemp`` creates its file 0o600 (private); a result file should be readable
    as any other file the user writes. Reading the umask means setting it, so it is set back
    at once (done once, at import).
    """
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


NEW_FILE_MODE = _new_file_mode()


def _fsync_dir(directory):
    """Make a rename in ``directory`` durable (POSIX); a no-op where it cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory; its rename is durable enough.
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode="wb", encoding=None, newline=None):
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        The target. Its directory must exist.
    mode : {"wb", "w"}
        Binary or text.
    encoding, newline
        As for :func:`open` in text mode (``encoding`` defaults to UTF-8 there).

    Yields
    ------
    file object
        Write to it. An exception inside the block removes the temporary file, leaves ``path``
        as it was, and propagates.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes only, mode 'wb' or 'w', not {mode!r}")
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        if hasattr(os, "fchmod"):  # POSIX: an overwritten file keeps its mode, a new one the umask's
            try:
                mode_bits = path.stat().st_mode & 0o7777
            except FileNotFoundError:
                mode_bits = NEW_FILE_MODE
            os.fchmod(fd, mode_bits)
        if mode == "w":
            fh = open(fd, "w", encoding=encoding or "utf-8", newline=newline)
        else:
            fh = open(fd, "wb")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path, text, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically (UTF-8 unless told otherwise, newlines as given)."""
    with atomic_open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


def json_safe(obj):
    """``obj`` with NaN and infinities as None (strict JSON) and NumPy scalars as Python ones.

    Applied recursively through dicts (keys become strings), lists and tuples; readers turn
    None back into NaN where a number is expected.
    """
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def atomic_write_json(path, obj, indent=2, sort_keys=True, allow_nan=False):
    """Write ``obj`` as JSON (with a final newline) to ``path`` atomically.

    ``allow_nan=False`` by default: NaN and infinity are not JSON, and a file that other tools
    cannot parse is worse than an error here. Pass ``allow_nan=True`` to write them as Python does.
    """
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, allow_nan=allow_nan) + "\n"
    atomic_write_text(path, text)


def atomic_write_npz(path, compressed=False, **arrays):
    """Write NumPy arrays to an ``.npz`` archive at ``path`` atomically (name kept as given)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for name, a in arrays.items():
        if a.dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which .npz holds only by pickling")
    with atomic_open(path, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **arrays)


def read_csv_records(path):
    """The rows of a CSV file with a header, as a list of dicts column -> string."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def atomic_write_csv(path, rows, header=None):
    """Write ``rows`` (an iterable of sequences) as CSV, after an optional ``header`` row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_json(path):
    """A JSON file as Python objects (UTF-8)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
