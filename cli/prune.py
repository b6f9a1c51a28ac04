"""``refchaos prune``: SGD against CGD pruning parts of the Hessian spectrum (H22 Figs. 1, 2).

No mathematics here: options become a RunConfig and a variant list, checked before any work
starts; :func:`refchaos.experiments.prune.run_prune` does the rest.
"""

from __future__ import annotations

from dataclasses import replace

import click

from refchaos.experiments.config import COPIES_OPTIMIZERS, ConfigError
from refchaos.experiments.config import RunConfig
from refchaos.experiments.prune import VARIANTS, check, default_config, run_prune
from refchaos.experiments.resultdir import ResultDirectoryError
from refchaos.experiments.setup import prepare
from refchaos_cli.common import DirectoryError, interrupted, show_warnings, stored_config
from refchaos_cli.optim_options import check_run_config, optimizer_fields, optimizer_options
from refchaos_cli.sweep import CONTEXT, checked, model_data_options, progress_line, usage_error

D = default_config()


@click.command("prune", context_settings=CONTEXT)
@click.option("--variants", default=",".join(VARIANTS),
              help=f"Comma list of: {', '.join(VARIANTS)} (each CGD variant prunes that set).")
@click.option("--prune-k", default=None, type=int, show_default="all of the set",
              help="Prune at most k directions per step.")
@click.option("--prune-select", default=D.prune_select, help="Which k: top (largest |lambda|), top_exponent, random.")
@click.option("--prune-start", default=D.prune_start, type=int, help="First step CGD prunes (SGD steps before).")
@click.option("--lr", default=D.lr, type=float, help="Learning rate eta (> 0).")
@click.option("--steps", default=D.steps, type=int, help="Optimizer steps per variant.")
@click.option("--every", default=D.every, type=int, help="Evaluate train/test loss and accuracy every this many steps.")
@click.option("--seed", default=D.seed, type=int, help="Seed of theta(0) and of the batches, shared by all variants.")
@click.option("--sgd-counts/--no-sgd-counts", default=True,
              help="Take SGD's Hessian spectrum every step for its eigenvalue counts (same steps).")
@model_data_options(D)
@optimizer_options(COPIES_OPTIMIZERS, eps_flag="--optimizer-eps", defaults=D)
@click.option("--out", default="prune", type=click.Path(file_okay=False), help="Output directory.")
@click.option("--resume", is_flag=True, show_default="off",
              help="Continue the pruning run in --out with its stored configuration (finished "
                   "variants are kept).")
@click.pass_context
def prune(ctx, variants, prune_k, prune_select, prune_start, lr, steps, every, seed, sgd_counts,
          out, resume, **model_data):
    """Train SGD and CGD variants from the same theta(0) on the same batches; write prune.csv
    (loss, accuracy, pruned directions and eigenvalue counts per step), summary.json and
    figures/ (prune.png, counts.png) to --out.
    """
    show_warnings()
    names = tuple(v.strip() for v in variants.split(",") if v.strip())
    optimizer = optimizer_fields(model_data)
    config = replace(D, prune_k=prune_k, prune_select=prune_select, prune_start=prune_start,
                     lr=lr, steps=steps, every=every, seed=seed, **model_data, **optimizer)
    if resume:
        stored = stored_config(ctx, "prune", out)
        config = RunConfig.from_dict(stored["run"])
        names, sgd_counts = tuple(stored["variants"]), stored["sgd_counts"]
    check_run_config(config, "--optimizer-eps")
    try:
        check(config, names)
    except ConfigError as err:
        raise usage_error(err) from None
    checked(config, prepare)
    try:
        summary = run_prune(config, out, names, sgd_counts=sgd_counts, progress=progress_line,
                            resume=resume, bar=True)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    except ResultDirectoryError as err:
        raise DirectoryError(str(err)) from None
    except KeyboardInterrupt:
        interrupted("prune", out)
    for name, f in summary["final"].items():
        click.echo(f"{name:9s} test acc {f['test_accuracy']:.3f}, train loss {f['train_loss']:.4g}, "
                   f"mean pruned {f['mean_n_pruned']:.1f}{' (diverged)' if f['diverged'] else ''}",
                   err=True)
    click.echo(f"written to {out}", err=True)


if __name__ == "__main__":
    prune()
