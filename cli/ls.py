"""``refchaos ls DIR...``: what each result directory holds (kind, status, steps, key numbers).

No mathematics here: everything is read from each directory's config.json, summary.json and
lock (:class:`refchaos.experiments.resultdir.ResultDirectory`). A run that says "running" but
whose process is gone reads "interrupted (process gone)". Exit status 1 if any directory
could not be read.
"""

from __future__ import annotations

import click

from refchaos.experiments.resultdir import open_result
from refchaos_cli.common import for_each_directory


def _num(value, fmt):
    return "-" if value is None else format(value, fmt)


def _steps(kind, s, config, path):
    if kind == "run":
        return f"{s.get('steps_completed', 0)}/{s.get('steps_total', '?')} steps"
    if kind == "sweep":
        done = len(list((path / "points").glob("*.json")))
        return f"{done}/{len(config['lrs']) * len(config['seeds'])} points"
    if kind == "prune":
        done = len(list((path / "variants").glob("*.csv")))
        return f"{done}/{len(config['variants'])} variants x {config['run'].get('steps')} steps"
    if kind == "validation":  # a validation/ script's --out folder: its figure data only
        return f"figure of {config.get('script', '?')}"
    return f"{config['run'].get('steps')} steps"


def _key_numbers(kind, s):
    if kind == "validation":
        return ", ".join(s.get("figures") or []) or "no figures"
    if kind == "run":
        final = s.get("final") or {}
        parts = [f"lambda_1 {_num(s.get('maxexp'), '+.4g')}"]
        if "test_acc" in final:
            parts.append(f"test acc {final['test_acc']:.3f}")
        if s.get("divergence"):
            d = s["divergence"]
            parts.append(f"diverged at step {d['step']} ({d['reason']})")
        return ", ".join(parts)
    if kind == "sweep":
        return (f"onset lr {_num(s.get('onset_lr_copies'), 'g')}, best lr "
                f"{_num(s.get('best_lr'), 'g')}, diverged at {s.get('diverged_lrs') or 'no lr'}")
    if kind == "prune":
        return ", ".join(f"{v} test acc {_num(f.get('test_accuracy'), '.3f')}"
                         + (" (diverged)" if f.get("diverged") else "")
                         for v, f in (s.get("final") or {}).items())
    return (f"lambda_1 {_num(s.get('lambda_1'), '.4g')}, {_num(s.get('n_positive'), 'd')} "
            "positive exponents")


@click.command("ls", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("directories", nargs=-1, required=True, metavar="DIR...",
                type=click.Path(exists=True, file_okay=False))
def ls(directories):
    """Show the kind, status, progress and key numbers of each result directory."""
    def show(d):
        rd = open_result(d)
        summary = rd.read_summary()
        line = (f"{d}: {rd.kind}, {rd.status()}, "
                f"{_steps(rd.kind, summary, rd.read_config_doc()['config'], rd.path)}; "
                f"{_key_numbers(rd.kind, summary)}")
        if summary.get("status") == "failed" and summary.get("error"):
            line += f"; error: {summary['error']}"
        click.echo(line)

    for_each_directory(directories, show, "read")


if __name__ == "__main__":
    ls()
