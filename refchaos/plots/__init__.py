"""Figures of run directories, redrawn from the files alone (matplotlib, Agg, no pyplot state).

    from refchaos.plots import redraw
    paths = redraw("runs/a")          # figures/*.png of whatever kind of directory "runs/a" is

:func:`redraw` reads ``summary.json``'s ``kind`` and dispatches through :data:`REDRAWERS`, an
explicit table of modules imported only when asked for, so one missing or broken plotting
module gives a clear error for its kind and does not break ``import refchaos.plots``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

REDRAWERS = {  # summary.json "kind" -> module whose ``redraw(directory)`` draws it
    "run": "refchaos.plots.run",
    "sweep": "refchaos.plots.sweep",
    "prune": "refchaos.plots.prune",
    "perturb": "refchaos.plots.perturb",
    "validation": "refchaos.plots.validation",  # figures of validation/ scripts' output folders
}


class PlotError(RuntimeError):
    """A directory cannot be drawn: no summary, an unknown kind, or no module for its kind."""


def kind_of(directory, summary=None):
    """The ``kind`` recorded in ``directory/summary.json`` (or in ``summary`` if given)."""
    if summary is not None:
        return summary["kind"]
    path = Path(directory) / "summary.json"
    if not path.is_file():
        raise PlotError(f"{path} is missing: {directory} is not a refchaos result directory")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PlotError(f"{path} is corrupt: {err}") from None
    if not isinstance(doc, dict) or "kind" not in doc:
        raise PlotError(f"{path} has no 'kind'")
    return doc["kind"]


def redraw(directory, summary=None):
    """Redraw the figures of a result directory; returns the list of PNG paths written.

    ``summary`` stands in for ``summary.json`` (a command draws its figures before it writes
    its final summary, :meth:`refchaos.experiments.resultdir.ResultDirectory.finish`).
    """
    kind = kind_of(directory, summary)
    if kind not in REDRAWERS:
        raise PlotError(f"{directory}: unknown kind {kind!r} in summary.json; this refchaos draws "
                        f"{', '.join(REDRAWERS)}")
    name = REDRAWERS[kind]
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:  # the module exists but something it imports does not
            raise
        raise PlotError(f"{directory}: figures of kind {kind!r} need {name}, which is not "
                        "installed in this refchaos") from None
    return module.redraw(directory, summary)


__all__ = ["REDRAWERS", "PlotError", "kind_of", "redraw"]
