"""``refchaos perturb``: H22's perturbation analysis (Sec. 4.2, Fig. 3).

No mathematics here: options become a RunConfig, checked before any work starts;
:func:`refchaos.experiments.perturb.run_perturb` does the rest.
"""

from __future__ import annotations

from dataclasses import replace

import click

from refchaos.experiments.config import COPIES_OPTIMIZERS, ConfigError
from refchaos.experiments.perturb import (DEFAULT_EPS, STRATEGIES, PerturbError, check,
                                          default_config, run_perturb)
from refchaos.experiments.config import RunConfig
from refchaos.experiments.resultdir import ResultDirectoryError
from refchaos.experiments.setup import prepare
from refchaos_cli.common import DirectoryError, interrupted, show_warnings, stored_config
from refchaos_cli.optim_options import check_run_config, optimizer_fields, optimizer_options
from refchaos_cli.sweep import CONTEXT, _float_list, checked, model_data_options, progress_line, usage_error

D = default_config()


@click.command("perturb", context_settings=CONTEXT)
@click.option("--eps", default=",".join(f"{e:g}" for e in DEFAULT_EPS),
              help="Perturbation sizes |dtheta|, comma list.")
@click.option("--strategies", default=",".join(STRATEGIES), help="Comma list of perturbation directions.")
@click.option("--k", default=None, type=int, show_default="all N",
              help="Use only the k leading Lyapunov eigenvectors (when the rest are unresolved).")
@click.option("--lr", default=D.lr, type=float, help="Learning rate eta (> 0).")
@click.option("--steps", default=D.steps, type=int, help="SGD steps T of model A and of every copy B.")
@click.option("--seed", default=D.seed, type=int, help="Seed of theta(0), the batches and the random directions.")
@model_data_options(D)
@optimizer_options(COPIES_OPTIMIZERS, eps_flag="--optimizer-eps", defaults=D)
@click.option("--out", default="perturb", type=click.Path(file_okay=False), help="Output directory.")
@click.option("--resume", is_flag=True, show_default="off",
              help="Finish the analysis in --out with its stored configuration (it keeps no "
                   "partial state, so it is rerun there; the result is the same).")
@click.option("--tangent-from", default=None, type=click.Path(file_okay=False, exists=True),
              help="A completed `refchaos run --measure subspaces` directory of the same model A "
                   "(same training options and number of steps): use its stored tangent matrix "
                   "Y(T) instead of integrating it here (that run checkpoints and resumes).")
@click.option("--threads", default=1, type=click.IntRange(min=1),
              help="Threads over the column blocks of model A's tangent matrix; results do not "
                   "depend on it. Set OPENBLAS_NUM_THREADS=1 beside it.")
@click.pass_context
def perturb(ctx, eps, strategies, k, lr, steps, seed, out, resume, tangent_from, threads,
            **model_data):
    """Train model A with SGD (or --optimizer, each model carrying its own optimizer state),
    take the Lyapunov eigenvectors of its tangent matrix, perturb
    copies B at initialisation along them (top, bottom, chaotic, nonchaotic, random) and track
    ||theta_A - theta_B||; write perturb.csv, fits.json (Eq. 15), exponents.npz, summary.json
    and figures/perturb.png to --out.
    """
    show_warnings()
    eps = _float_list(eps, "--eps")
    names = tuple(s.strip() for s in strategies.split(",") if s.strip())
    optimizer = optimizer_fields(model_data)
    config = replace(D, lr=lr, steps=steps, seed=seed, **model_data, **optimizer)
    if resume:
        stored = stored_config(ctx, "perturb", out)
        config, eps = RunConfig.from_dict(stored["run"]), tuple(stored["eps"])
        names, k = tuple(stored["strategies"]), stored["k"]
        tangent_from = stored.get("tangent_from")
    check_run_config(config, "--optimizer-eps")
    try:
        check(config, eps, names, k)
    except ConfigError as err:
        raise usage_error(err) from None
    checked(config, prepare)
    try:
        summary = run_perturb(config, out, eps=eps, strategies=names, k=k, progress=progress_line,
                              resume=resume, bar=True, tangent_from=tangent_from,
                              threads=threads)
    except PerturbError as err:
        raise click.ClickException(str(err)) from None
    except ResultDirectoryError as err:
        raise DirectoryError(str(err)) from None
    except KeyboardInterrupt:
        interrupted("perturb", out)
    except ConfigError as err:
        raise usage_error(err) from None
    click.echo(f"lambda_1 = {summary['lambda_1']:.4g} per step; final distances: "
               + ", ".join(f"{key} {d:.3g}" for key, d in summary["final_distance"].items())
               + f"; written to {out}", err=True)


if __name__ == "__main__":
    perturb()
