"""What every result-writing command shares: exit statuses, directory errors, warnings on stderr.

No mathematics here.
"""

from __future__ import annotations

import warnings

import click

EXIT_USAGE = 2  # A bad option or an unusable --out: a named message, nothing half-written.
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell convention; the directory is resumable.


class DirectoryError(click.ClickException):
    """An --out that cannot be used (another command's or configuration's results, locked,
    read-only, full): exit status 2 like any other bad option."""

    exit_code = EXIT_USAGE

    def format_message(self):
        return f"--out: {self.message}"


def show_warnings():
    """Print warnings (a stale lock taken over, a short dataset file) as ``warning: ...``."""

    def show(message, category, filename, lineno, file=None, line=None):
        click.echo(f"warning: {message}", err=True)

    warnings.showwarning = show


def interrupted(command, out):
    """The message and exit status of a command stopped by Ctrl-C."""
    click.echo(f"interrupted; the finished work is kept in {out}: continue with "
               f"`refchaos {command} --resume --out {out}`", err=True)
    raise SystemExit(EXIT_INTERRUPTED)


def given_options(ctx, exclude):
    """Names of the options the user gave explicitly (not defaults), less ``exclude``."""
    return [p.name for p in ctx.command.params if p.name not in exclude
            and ctx.get_parameter_source(p.name) != click.core.ParameterSource.DEFAULT]


def stored_config(ctx, kind, out, exclude=("out", "resume")):
    """For ``--resume``: the configuration stored in ``out`` by ``refchaos kind``; options
    given explicitly besides ``exclude`` are refused (the stored ones apply)."""
    from refchaos.experiments.resultdir import ResultDirectory, ResultDirectoryError

    given = given_options(ctx, exclude)
    if given:
        raise click.UsageError(f"--resume takes the configuration stored in --out; leave out "
                               + ", ".join("--" + g.replace("_", "-") for g in given))
    try:
        stored_kind, config = ResultDirectory(out, kind).stored()
    except ResultDirectoryError as err:
        raise DirectoryError(str(err)) from None
    if stored_kind != kind or config is None:
        raise DirectoryError(f"nothing to resume: {out} holds no `refchaos {kind}` results"
                             + (f" (it holds `refchaos {stored_kind}` results)" if stored_kind
                                else ""))
    return config


def for_each_directory(directories, action, verb):
    """``action(d)`` for each directory; an error is reported on stderr and, after all,
    exit status 1 names the directories that failed."""
    from refchaos.experiments.resultdir import ResultDirectoryError
    from refchaos.plots import PlotError

    failed = []
    for d in directories:
        try:
            action(d)
        except (ResultDirectoryError, PlotError, OSError, KeyError, TypeError, ValueError) as err:
            click.echo(f"{d}: {err}", err=True)
            failed.append(d)
    if failed:
        raise click.ClickException(f"could not {verb} {len(failed)} of {len(directories)} "
                                   f"directories: {', '.join(failed)}")
