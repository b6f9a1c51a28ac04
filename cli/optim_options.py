"""The optimizer options that ``run``, ``sweep``, ``prune`` and ``perturb`` share.

No mathematics here: one definition of ``--optimizer``, ``--momentum``, ``--weight-decay``,
``--betas``, the optimizer's eps, ``--alpha``, ``--amsgrad`` and ``--centered`` (PyTorch's
hyper-parameters, checked by :meth:`refchaos.experiments.RunConfig.validate`, which names the
option that cannot work). ``sweep`` and ``perturb`` already use ``--eps`` for the perturbation
size, so there the optimizer's eps is ``--optimizer-eps``.
"""

from __future__ import annotations

import click

from refchaos.experiments.config import RunConfig

OPTIMIZER_FIELDS = ("optimizer", "momentum", "weight_decay", "betas", "eps", "alpha", "amsgrad",
                    "centered")  # RunConfig fields the options below set
OPTIMIZER_HELP = {
    "sgd": "sgd", "cgd": "cgd (Theorem 2.2 pruning)", "adam": "adam", "adamw": "adamw",
    "rmsprop": "rmsprop",
}
EPS_FLAGS = ("--eps", "--optimizer-eps")


def parse_betas(text):
    """--betas B1,B2 as a pair of floats (their range is checked with the configuration)."""
    if isinstance(text, tuple):
        return text
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        values = ()
    if len(values) != 2:
        raise click.BadParameter(f"write two numbers B1,B2, e.g. 0.9,0.999; got {text!r}",
                                 param_hint="'--betas'")
    return values


def optimizer_options(choices, eps_flag="--eps", defaults=None):
    """Click options of the optimizer (module docstring); ``choices`` are the optimizer names
    the command offers, ``eps_flag`` one of :data:`EPS_FLAGS`. Read the values back with
    :func:`optimizer_fields`."""
    if eps_flag not in EPS_FLAGS:
        raise ValueError(f"eps_flag must be one of {EPS_FLAGS}, got {eps_flag!r}")
    d = RunConfig() if defaults is None else defaults
    names = ", ".join(OPTIMIZER_HELP[c] for c in choices[:-1]) + f" or {OPTIMIZER_HELP[choices[-1]]}"
    options = [
        click.option("--optimizer", default=d.optimizer,
                     help=f"{names} (PyTorch's definitions)."),
        click.option("--momentum", default=d.momentum, type=float,
                     help="Momentum mu in [0, 1) (PyTorch's buffer; RMSprop's too)."),
        click.option("--weight-decay", default=None, type=float,
                     show_default="the optimizer's PyTorch default: adamw 0.01, others 0",
                     help="Weight decay (>= 0)."),
        click.option("--betas", default=",".join(f"{b:g}" for b in d.betas),
                     callback=lambda c, p, v: parse_betas(v),
                     help="Adam/AdamW moment coefficients B1,B2 in [0, 1)."),
        click.option(eps_flag, eps_flag.lstrip("-").replace("-", "_"), default=d.eps, type=float,
                     help="Adam/AdamW/RMSprop eps (> 0) added after the root."),
        click.option("--alpha", default=d.alpha, type=float, help="RMSprop smoothing constant in [0, 1)."),
        click.option("--amsgrad", is_flag=True, show_default="off", help="Adam/AdamW: AMSGrad's running max of v."),
        click.option("--centered", is_flag=True, show_default="off", help="RMSprop: centred variance estimate."),
    ]

    return stack_options(options)


def stack_options(options):
    """One decorator applying click ``options`` in the order given (the order of --help)."""

    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def optimizer_fields(kwargs):
    """Remove the optimizer options from a command's ``kwargs``; return them as RunConfig
    fields (``optimizer_eps`` becomes ``eps``)."""
    out = {name: kwargs.pop(name) for name in OPTIMIZER_FIELDS if name in kwargs}
    if "optimizer_eps" in kwargs:
        out["eps"] = kwargs.pop("optimizer_eps")
    return out


def rename_eps(message, eps_flag):
    """A configuration message about the optimizer's ``--eps`` in the words of a command whose
    flag for it is ``eps_flag``."""
    return message if eps_flag == "--eps" else message.replace("--eps", eps_flag)


def check_run_config(config, eps_flag):
    """``config.validate()``, its ConfigError as a click usage error in the command's own flag
    names (the optimizer's eps is ``eps_flag``)."""
    from refchaos.experiments.config import ConfigError
    from refchaos_cli.sweep import usage_error

    try:
        config.validate()
    except ConfigError as err:
        raise usage_error(ConfigError(rename_eps(str(err), eps_flag))) from None
