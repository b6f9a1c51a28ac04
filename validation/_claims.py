"""Shared plumbing of the reproduction scripts: command line, claim table, summary files.

No mathematics here: a claim row holds numbers computed by ``refchaos`` and a boolean computed
by the calling script from those numbers with a criterion it states in words. This module only
formats and writes them (atomically, :mod:`refchaos.io`):

* ``<name>.csv``   claim, paper, measured, holds, criterion (one row per claim)
* ``<name>.md``    the same table as a markdown snippet, headed by the run's size and command
* ``<name>.json``  parameters, the rows, wall time and anything the script adds
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from refchaos.io import atomic_write_csv, atomic_write_json, atomic_write_text, json_safe

TABLE_COLUMNS = ("claim", "paper", "measured", "holds", "criterion")


@dataclass
class Claim:
    """One row of a reproduction table."""

    claim: str  # what the paper says, in one line
    paper: str  # the paper's figure or number
    measured: str  # our number(s), formatted
    holds: bool  # computed from the data by ``criterion``
    criterion: str  # the test, in words


def parser(doc, default_out):
    """argparse parser with the options every reproduction script shares."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small setup for CI (well under a minute)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding usps/, mnist/, fashion-mnist/ (default: refchaos's search path)")
    p.add_argument("--out", default=default_out, help="output directory")
    return p


def add_training_options(p):
    """The ``--epochs``/``--lr`` overrides of the scripts that train one SGD run."""
    p.add_argument("--epochs", type=int, default=None, help="full mode: epochs (H22: 40)")
    p.add_argument("--lr", type=float, default=None)
    return p


def overridden(args, defaults, keys):
    """A copy of ``defaults`` with the options in ``keys`` the command line gave (not None);
    ``lrs`` is parsed from its comma-separated form into a tuple of floats."""
    params = dict(defaults)
    for key in keys:
        value = getattr(args, key)
        if value is not None:
            params[key] = tuple(float(v) for v in value.split(",")) if key == "lrs" else value
    return params


def train_sgd(args, params, measure, resume=False, progress=False, threads=1, **config):
    """Apply ``--epochs``/``--lr`` to ``params``, train one run into ``<out>/run``.

    ``params`` holds dataset, model, lr, epochs, steps and every; ``config`` the remaining
    :class:`refchaos.experiments.RunConfig` fields; ``resume`` continues a stored run of the
    same configuration (read as it is when it has finished), ``progress`` shows a progress
    line, ``threads`` is :func:`refchaos.experiments.run`'s. Returns (config, summary, metrics
    columns).
    """
    from refchaos.experiments import RunConfig, RunDirectory, run

    if args.epochs is not None:
        params["epochs"], params["steps"] = args.epochs, None
    if args.lr is not None:
        params["lr"] = args.lr
    cfg = RunConfig(dataset=params["dataset"], data_dir=args.data_dir, model=params["model"],
                    lr=params["lr"], epochs=params["epochs"], steps=params["steps"],
                    every=params["every"], measure=measure, **config)
    out = Path(args.out) / "run"
    rd = RunDirectory(out)
    finished = resume and rd.summary_path.exists() and rd.read_summary()["status"] in ("completed", "diverged")
    if finished and rd.read_config() == cfg:
        summary = rd.read_summary()
    else:
        summary = run(cfg, out, resume=resume and rd.checkpoint_path.exists(), progress=progress,
                      threads=threads)
    _, metrics = rd.read_metrics()
    return cfg, summary, metrics


def fmt(value, digits=4):
    """A number for the table: NaN and None as 'nan', floats to ``digits`` significant digits."""
    if value is None:
        return "nan"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.{digits}g}"


def finite(*values):
    """True when every value is a finite number."""
    return all(v is not None and math.isfinite(float(v)) for v in values)


def write_report(out, name, claims, parameters, setup_text, extra=None, started=None, argv=None,
                 script=None):
    """Write <name>.csv, <name>.md and <name>.json into ``out``; return the JSON dict.
    ``script`` names the script of the command line when it is not ``<name>.py``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [[c.claim, c.paper, c.measured, bool(c.holds), c.criterion] for c in claims]
    atomic_write_csv(out / f"{name}.csv", rows, header=TABLE_COLUMNS)
    command = "python validation/" + (script or name) + ".py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    md = [f"**{name}** ({setup_text}). Command: `{command.strip()}`", "",
          "| claim | paper | measured | holds | criterion |", "|---|---|---|---|---|"]
    md += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    atomic_write_text(out / f"{name}.md", "\n".join(md) + "\n")
    doc = {"script": script or name, "command": command.strip(), "setup": setup_text,
           "parameters": parameters, "claims": [asdict(c) for c in claims],
           "all_hold": all(c.holds for c in claims),
           "wall_s": None if started is None else time.perf_counter() - started}
    if extra:
        doc.update(extra)
    atomic_write_json(out / f"{name}.json", json_safe(doc))
    print("\n".join(md))
    return doc


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
