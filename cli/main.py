"""Entry point of the ``refchaos`` command: a click group; each command lives in its own module."""

from __future__ import annotations

import click

import refchaos


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(refchaos.__version__, prog_name="refchaos")
def main():
    """refchaos: chaos in neural-network training, by an auditable reference implementation."""


@main.command()
@click.option("--backend", default="numpy", help="numpy, cupy, torch or array_api_strict.")
def info(backend):
    """Show the version, the chosen backend and the model sizes of the two studies."""
    from refchaos.backend import BackendUnavailableError, get_namespace

    try:
        xp = get_namespace(backend)
    except (BackendUnavailableError, ValueError) as err:
        raise click.BadParameter(str(err), param_hint="--backend") from None
    click.echo(f"refchaos {refchaos.__version__}, backend {backend} ({xp.__name__})")
    for name, model in [
        ("Herrmann et al. 2022 MLP 256-20-10 relu", refchaos.mlp([256, 20, 10])),
        ("Jimenez-Gonzalez et al. 2025 MLP 784-64-10 tanh", refchaos.mlp([784, 64, 10], "tanh")),
    ]:
        click.echo(f"  {name}: {model.num_params} parameters")


def _register():
    from refchaos_cli.audit import audit
    from refchaos_cli.curvature import curvature
    from refchaos_cli.data import data
    from refchaos_cli.ls import ls
    from refchaos_cli.perturb import perturb
    from refchaos_cli.plot import plot
    from refchaos_cli.prune import prune
    from refchaos_cli.run import run
    from refchaos_cli.sweep import sweep

    for command in (run, sweep, prune, perturb, plot, ls, data, audit):
        main.add_command(command)
    main.add_command(curvature)


_register()

if __name__ == "__main__":
    main()
