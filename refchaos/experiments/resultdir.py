"""The one directory contract of ``run``, ``sweep``, ``prune`` and ``perturb``.

A result directory belongs to one command (its *kind*) and one configuration:

==================  ==========================================================================
file                contents
==================  ==========================================================================
``config.json``     ``{"kind": ..., "config": {...}, ...}``: written once, when the directory
                    is claimed; a later claim with another kind or configuration is refused
``summary.json``    ``kind``, ``status`` (:data:`STATUSES`) and the command's key numbers;
                    written atomically, last (after the figures)
``lock.json``       the writing process (pid, host) while it runs (:mod:`.lock`)
``figures/*.png``   :mod:`refchaos.plots`, drawn from the directory's files
==================  ==========================================================================

Each command adds its own data files (``metrics.csv``, ``chunks/`` and checkpoints for a run,
``points/`` for a sweep, ...). Every file is written atomically (:mod:`refchaos.io`) or
append-only with a recorded valid length (:mod:`.recorder`), so a crash never leaves a
half-written file that reads as valid.

``summary.json`` says ``completed`` only once every figure is written: a failure while drawing
(a full disk) leaves status ``failed`` with the outcome kept in ``outcome``, and a later
``refchaos plot DIR`` that succeeds restores it.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from ..io import atomic_write_json, json_safe
from .lock import LOCK_FILE, DirectoryLock, LockedError, holder_alive, read_lock

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
FIGURES_DIR = "figures"
KINDS = ("run", "sweep", "prune", "perturb", "validation")  # validation: a validation/ script's --out folder
STATUSES = ("running", "completed", "diverged", "interrupted", "failed")


class ResultDirectoryError(RuntimeError):
    """A result directory is missing a file, holds a corrupt one, or does not fit the request."""


def now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def normalised(obj):
    """``obj`` as it reads back from JSON (tuples become lists, NaN None), for comparisons."""
    return json.loads(json.dumps(json_safe(obj), sort_keys=True))


def differences(stored, given, prefix=""):
    """``"key: stored a, given b"`` for every (dotted) key where two dicts differ."""
    parts = []
    for k in sorted(set(stored) | set(given)):
        a, b = stored.get(k), given.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            parts += differences(a, b, f"{prefix}{k}.")
        elif a != b:
            parts.append(f"{prefix}{k}: stored {a!r}, given {b!r}")
    return parts


class ResultDirectory:
    """The files of one command's results under ``path`` (see the module docstring)."""

    kind = None  # set by subclasses, or given to the constructor

    def __init__(self, path, kind=None):
        self.path = Path(path)
        if kind is not None:
            self.kind = kind
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        self.lock = DirectoryLock(self.path, self.kind)

    def __repr__(self):
        return f"{type(self).__name__}({str(self.path)!r})"

    @property
    def config_path(self):
        return self.path / CONFIG_FILE

    @property
    def summary_path(self):
        return self.path / SUMMARY_FILE

    @property
    def figures_dir(self):
        return self.path / FIGURES_DIR

    def exists(self):
        """True if this directory already holds results (its config.json)."""
        return self.config_path.is_file()

    # ----- claim --------------------------------------------------------------------------------
    def claim(self, config, resume=False, document=None):
        """Take this directory for ``config`` (a JSON-ready dict) and hold its lock.

        ``resume=False`` needs a directory that is absent or empty; ``True`` one that holds
        this kind and configuration; ``None`` takes either. Another kind's or configuration's
        results are refused with a message naming them and how to continue. ``document``
        holds extra keys for a new config.json. Returns True if the directory held results.
        """
        want = normalised(config)
        self._check_claim(want, resume)
        created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.lock.acquire()
        except LockedError as err:
            raise ResultDirectoryError(str(err)) from None
        except OSError as err:
            self._undo_mkdir(created)
            raise ResultDirectoryError(f"cannot write to {self.path}: {err.strerror or err}; "
                                       "choose another --out") from None
        try:
            existed = self._check_claim(want, resume)  # again, now that no one else writes
            if not existed:
                self.figures_dir.mkdir(exist_ok=True)
                atomic_write_json(self.config_path, json_safe(
                    {**(document or {}), "kind": self.kind, "config": want, "created": now()}))
        except OSError as err:
            self.release()
            raise ResultDirectoryError(f"cannot write to {self.path}: {err.strerror or err}; "
                                       "choose another --out") from None
        except BaseException:
            self.release()
            self._undo_mkdir(created)
            raise
        return existed

    def _check_claim(self, want, resume):
        p, kind = self.path, self.kind
        if p.exists() and not p.is_dir():
            raise ResultDirectoryError(f"{p} exists and is not a directory; choose another --out")
        stored_kind, stored = self.stored()
        if stored_kind is None:
            if resume:
                raise ResultDirectoryError(f"nothing to resume: {p} holds no results (no "
                                           f"{CONFIG_FILE}); start without --resume")
            if p.is_dir() and [n for n in os.listdir(p) if n != LOCK_FILE]:
                raise ResultDirectoryError(f"{p} exists and holds files that are not refchaos "
                                           "results; choose another --out")
            return False
        if stored_kind != kind:
            raise ResultDirectoryError(
                f"{p} holds the results of `refchaos {stored_kind}`, not of `refchaos {kind}`; "
                f"choose another --out (or continue those with `refchaos {stored_kind} --resume "
                f"--out {p}`)")
        if stored is not None and stored != want:
            detail = "; ".join(differences(stored, want)) or "another configuration"
            raise ResultDirectoryError(
                f"{p} holds a {kind} with another configuration ({detail}); continue it with "
                f"its stored configuration (`refchaos {kind} --resume --out {p}`) or choose "
                "another --out")
        if resume is False:
            raise ResultDirectoryError(f"{p} already holds this {kind}; continue it with "
                                       "--resume or choose another --out")
        return True

    def _undo_mkdir(self, created):
        if created:
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def release(self):
        """Give up the lock (at the end of the command, whatever its outcome)."""
        self.lock.release()

    def stored(self):
        """(kind, config dict) stored here; (None, None) if the directory holds no results."""
        if self.config_path.is_file():
            doc = self.read_config_doc()
            return doc["kind"], doc["config"]
        if self.summary_path.is_file():  # results without a config: another layout's
            return self.read_summary().get("kind", "unknown"), None
        return None, None

    def read_config_doc(self):
        """The whole config.json as a dict (ResultDirectoryError if missing or corrupt)."""
        doc = self._read_json(self.config_path, "the configuration")
        if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
            raise ResultDirectoryError(f"{self.config_path} has no 'config' object: not a "
                                       "refchaos result directory")
        doc.setdefault("kind", "run")  # run directories of earlier versions had no kind
        return doc

    # ----- summary and figures ------------------------------------------------------------------
    def write_summary(self, summary):
        atomic_write_json(self.summary_path, json_safe(dict(summary, kind=self.kind)))

    def read_summary(self):
        doc = self._read_json(self.summary_path, "the summary")
        if not isinstance(doc, dict) or "kind" not in doc:
            raise ResultDirectoryError(f"{self.summary_path} has no 'kind'")
        if "status" in doc and doc["status"] not in STATUSES:
            raise ResultDirectoryError(f"{self.summary_path}: unknown status {doc['status']!r}")
        return doc

    def finish(self, summary, figures=True):
        """Draw the figures from the directory's files, then write ``summary`` (returned, with
        its ``figures``). A failure while drawing writes status ``failed`` and raises."""
        summary = dict(summary, kind=self.kind)
        if figures:
            from ..plots import redraw

            try:
                paths = redraw(self.path, summary=json_safe(summary))
            except OSError as err:
                failed = dict(summary, status="failed", outcome=summary.get("status"),
                              error=f"drawing the figures: {err}")
                with contextlib.suppress(OSError):
                    self.write_summary(failed)
                raise ResultDirectoryError(
                    f"could not draw the figures of {self.path} ({err.strerror or err}); its "
                    f"results are kept and {SUMMARY_FILE} says 'failed': free space, then run "
                    f"`refchaos plot {self.path}`") from None
            summary["figures"] = [str(Path(q).relative_to(self.path)) for q in paths]
        self.write_summary(summary)
        return summary

    def redraw(self):
        """Redraw the figures; a summary left 'failed' by a drawing failure gets its outcome back."""
        from ..plots import redraw

        paths = redraw(self.path)
        summary = self.read_summary()
        if summary.get("status") == "failed" and summary.get("outcome") and \
                str(summary.get("error", "")).startswith("drawing the figures"):
            outcome = summary["outcome"]
            summary = {k: v for k, v in summary.items() if k not in ("outcome", "error")}
            summary["status"] = outcome
            summary["figures"] = [str(Path(q).relative_to(self.path)) for q in paths]
            self.write_summary(summary)
        return paths

    # ----- state --------------------------------------------------------------------------------
    def status(self):
        """The status as a person should read it: a 'running' summary whose process is gone
        reads 'interrupted (process gone)'."""
        summary = self.read_summary()
        status = summary.get("status", "completed")
        if status != "running":
            return status
        lock = read_lock(self.path)
        alive = holder_alive(lock)
        if alive:
            return f"running (pid {lock['pid']})"
        if alive is None:
            return f"running? (pid {lock['pid']} on {lock['host']}, another host)"
        return "interrupted (process gone)"

    def validate(self):
        """Check that config.json and summary.json are readable and agree; returns the summary."""
        kind, _ = self.stored()
        summary = self.read_summary()
        if kind != self.kind or summary["kind"] != self.kind:
            raise ResultDirectoryError(f"{self.path} holds {kind!r} results (summary: "
                                       f"{summary['kind']!r}), not {self.kind!r}")
        return summary

    def _read_json(self, path, what):
        if not path.is_file():
            raise ResultDirectoryError(f"{path} is missing ({what}): not a refchaos result "
                                       "directory")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ResultDirectoryError(f"{path} is corrupt ({what}): {err}") from None


def open_result(path):
    """The :class:`ResultDirectory` of whatever kind ``path`` holds (run directories as
    :class:`~refchaos.experiments.rundir.RunDirectory`)."""
    probe = ResultDirectory(path, "run")
    kind, _ = probe.stored()
    if kind is None:
        raise ResultDirectoryError(f"{path} holds no refchaos results (no {CONFIG_FILE} or "
                                   f"{SUMMARY_FILE})")
    if kind == "run":
        from .rundir import RunDirectory

        return RunDirectory(path)
    if kind not in KINDS:
        raise ResultDirectoryError(f"{path}: unknown kind {kind!r}")
    return ResultDirectory(path, kind)
