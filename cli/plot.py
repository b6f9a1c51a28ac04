"""``refchaos plot DIR...``: redraw the figures of result directories from their files.

No mathematics here: :meth:`refchaos.experiments.resultdir.ResultDirectory.redraw` draws
through :func:`refchaos.plots.redraw`, which dispatches on the directory's kind (run, sweep,
prune, perturb). Exit status 1 if any directory failed.
"""

from __future__ import annotations

import click

from refchaos.experiments.resultdir import open_result
from refchaos_cli.common import for_each_directory


@click.command("plot", context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("directories", nargs=-1, required=True, metavar="DIR...",
                type=click.Path(exists=True, file_okay=False))
def plot(directories):
    """Redraw figures/*.png of one or more result directories (runs, sweeps, ...)."""
    def draw(d):
        paths = open_result(d).redraw()
        click.echo(f"{d}: {len(paths)} figure(s)")
        for p in paths:
            click.echo(f"  {p}")

    for_each_directory(directories, draw, "draw")


if __name__ == "__main__":
    plot()
