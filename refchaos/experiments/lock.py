"""One writer per result directory: ``lock.json`` names the process (pid, host) that writes it.

The lock file is created with ``O_CREAT | O_EXCL``, so of two processes starting on one
directory exactly one gets it. It holds ``{"pid", "host", "kind", "started"}``. A lock left by a
process that no longer exists on this host (kill -9, power cut) is *stale*: the next writer
takes it over and says so (:class:`StaleLockWarning`). A lock held by a live process, or by a
process on another host (whose liveness this host cannot see), is refused (:class:`LockedError`).

:func:`holder_alive` tells ``refchaos ls`` whether a run that says "running" still runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import warnings
from datetime import datetime, timezone
from pathlib import Path

LOCK_FILE = "lock.json"


class LockedError(RuntimeError):
    """Another live process writes this directory."""


class StaleLockWarning(UserWarning):
    """A lock of a process that is gone was taken over."""


def this_host():
    return socket.gethostname()


def pid_alive(pid):
    """True if a process with this pid exists on this host (it may belong to another user)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OverflowError, ValueError):
        return False
    return True


def read_lock(directory):
    """The lock's dict, or None if there is none (or it is unreadable: a half-made lock)."""
    try:
        doc = json.loads((Path(directory) / LOCK_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def holder_alive(lock):
    """True if the process of ``lock`` (a dict from :func:`read_lock`) still runs; None if it is
    on another host (cannot be told from here)."""
    if lock is None:
        return False
    if lock.get("host") != this_host():
        return None
    return pid_alive(lock.get("pid", -1))


class DirectoryLock:
    """``with DirectoryLock(path, kind):`` holds ``path/lock.json`` for this process."""

    def __init__(self, directory, kind):
        self.path = Path(directory) / LOCK_FILE
        self.kind = kind
        self.held = False

    def acquire(self):
        """Take the lock (taking over a stale one); LockedError if a live process holds it."""
        doc = {"pid": os.getpid(), "host": this_host(), "kind": self.kind,
               "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        for _ in range(2):  # a second try after removing a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh)
                fh.flush()
                os.fsync(fh.fileno())
            self.held = True
            return self
        raise LockedError(f"{self.path.parent} is being written by another process that took "
                          "its lock at the same moment; choose another --out")

    def _take_over_if_stale(self):
        held = read_lock(self.path.parent)
        if held is None:  # unreadable: a writer died between creating and filling it
            owner = "an unreadable lock"
        else:
            alive = holder_alive(held)
            who = f"process {held.get('pid')} on {held.get('host')} (since {held.get('started')})"
            if alive is None:
                raise LockedError(
                    f"{self.path.parent} is locked by {who}, another host; if that process is "
                    f"gone, delete {self.path} and run again, or choose another --out")
            if alive:
                raise LockedError(
                    f"{self.path.parent} is being written by {who}; wait for it to finish, "
                    "or choose another --out")
            owner = f"{who}, which no longer runs"
        warnings.warn(f"{self.path.parent}: taking over the stale lock of {owner}",
                      StaleLockWarning, stacklevel=4)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def release(self):
        """Remove the lock if this process holds it."""
        if not self.held:
            return
        held = read_lock(self.path.parent)
        if held is not None and held.get("pid") == os.getpid() and held.get("host") == this_host():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
