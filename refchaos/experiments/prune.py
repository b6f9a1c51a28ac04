"""SGD against CGD pruning the chaotic, negative or positive spectrum: Herrmann et al. 2022, Figs. 1, 2.

Every variant starts from the same theta(0) (one seed) and takes the same minibatches (one
seeded :class:`~refchaos.data.BatchOrder`); only the optimizer differs:

==============  ==========================================================================
``sgd``         Eq. (7). With ``sgd_counts`` it runs as CGD with prune set ``none``, which
                takes the identical step (an empty projection returns g itself) and reports
                the Hessian eigenvalue counts of SGD's own trajectory (Fig. 2).
``chaotic``     CGD (Theorem 2.2) projecting off lambda < 0 or lambda > 2/lr (Eq. (10))
``negative``    CGD projecting off lambda < 0
``positive``    CGD projecting off lambda > 0
==============  ==========================================================================

``prune_k`` / ``prune_select`` / ``prune_start`` of the configuration apply to every CGD
variant (k largest |lambda|, k at random, from an onset step). Per step the table holds the
minibatch loss before the step, the number of pruned directions and the eigenvalue counts
(negative / positive / zero / chaotic, :func:`refchaos.optim.eigenvalue_counts`); every
``config.every`` steps and at the end, loss and accuracy on the whole training and test sets.

Symbols: eta -> ``lr``; lambda -> Hessian eigenvalues; S -> ``n_pruned`` directions.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from .. import io
from ..optim import CGD
from .config import ConfigError, RunConfig, build_optimizer
from .divergence import DEFAULT_POLICY
from .progress import Progress
from .resultdir import ResultDirectory
from .setup import evaluate, prepare

VARIANTS = ("sgd", "chaotic", "negative", "positive")
COUNT_KINDS = ("negative", "positive", "zero", "chaotic")
CSV_COLUMNS = ("variant", "step", "loss", "n_pruned", "n_candidates", *COUNT_KINDS, "grad_norm",
               "projected_grad_norm", "train_loss", "train_accuracy", "test_loss", "test_accuracy")


def default_config():
    """A run of about a minute on digits: MLP 64-8-10 ReLU, batch 8, 200 SGD steps."""
    return RunConfig(dataset="digits", model="mlp:8", activation="relu", init="pytorch",
                     lr=0.1, batch_size=8, steps=200, every=20, measure=("loss", "accuracy"))


def check(config, variants):
    """Raise ConfigError naming the first option that cannot work; return the variants."""
    variants = tuple(variants)
    if not variants:
        raise ConfigError("--variants is empty; choose from " + ", ".join(VARIANTS))
    for v in variants:
        if v not in VARIANTS:
            raise ConfigError(f"--variants {v!r} is not one of: {', '.join(VARIANTS)}")
    if len(set(variants)) != len(variants):
        raise ConfigError(f"--variants names one twice: {', '.join(variants)}")
    config.validate()
    # the variants choose SGD or CGD (a "cgd" configuration just carries the CGD options)
    if config.optimizer not in ("sgd", "cgd"):  # EQUATIONS.md, 'Preconditioned steppers'
        raise ConfigError(
            f"--optimizer {config.optimizer}: prune compares SGD with CGD, which projects SGD's "
            "step onto the Hessian eigenvectors whose local exponents ln|1 - lr lambda| decide "
            "chaos (Theorem 2.2 of Herrmann et al. 2022, defined for the map I - lr H); a "
            f"preconditioned step has no such sets, so there is no CGD for {config.optimizer}. "
            "Use --optimizer sgd (with --momentum if wanted)")
    return variants


def optimizer_of(config, variant, sgd_counts=True):
    """The optimizer of one variant (CGD options from ``config``; SGD as CGD 'none' for counts)."""
    if variant == "sgd":
        if sgd_counts:
            return CGD(config.lr, prune="none", momentum=config.momentum,
                       weight_decay=config.weight_decay, seed=config.seed)
        return build_optimizer(replace(config, optimizer="sgd"))
    return build_optimizer(replace(config, optimizer="cgd", prune=variant))


def train_variant(setup, opt, variant, every, progress=None, tick=None):
    """Rows of the table for one variant (see the module docstring) and its
    :class:`~.divergence.Divergence` (or None); training stops at divergence."""
    model = setup.model
    theta, state = setup.theta0, opt.init(setup.theta0)
    steps, rows, divergence = setup.steps, [], None
    for t in range(steps + 1):
        row = dict.fromkeys(CSV_COLUMNS, math.nan)
        row.update(variant=variant, step=t)
        if t % every == 0 or t == steps:
            row["train_loss"], row["train_accuracy"] = evaluate(model, theta, setup.x_train, setup.y_train)
            row["test_loss"], row["test_accuracy"] = evaluate(model, theta, setup.x_test, setup.y_test)
        if t < steps:
            x, y = setup.batch(t)
            theta, state, info = opt.step(model, theta, state, x, y)
            counts = info.get("counts") or {}
            row.update(loss=info["loss"], n_pruned=info.get("n_pruned", 0),
                       n_candidates=_nan(info.get("n_candidates")), grad_norm=info["grad_norm"],
                       projected_grad_norm=info.get("projected_grad_norm", info["grad_norm"]),
                       **{k: _nan(counts.get(k)) for k in COUNT_KINDS})
            divergence = DEFAULT_POLICY.check(t, info["loss"], theta)
        rows.append(row)
        if tick is not None:
            tick()
        if divergence is not None:
            break  # diverged: the table ends here
        if progress is not None and t % every == 0 and t < steps:
            progress(f"{variant}: step {t}/{steps}, loss {row['loss']:.4g}, "
                     f"test acc {row['test_accuracy']:.3f}, pruned {row['n_pruned']}")
    return rows, divergence


def variant_path(out, variant):
    """variants/<variant>.csv: the rows of one finished variant (resume skips it)."""
    return out / "variants" / f"{variant}.csv"


def run_prune(config, out, variants=VARIANTS, sgd_counts=True, progress=None, figures=True,
              resume=False, bar=False):
    """Train every variant from the same theta(0) on the same batches; write the directory.

    Writes ``variants/<variant>.csv`` as each variant finishes (a resumed run, ``resume=True``,
    skips those), then ``prune.csv`` (one row per variant and step, :data:`CSV_COLUMNS`),
    ``figures/`` and ``summary.json`` (kind "prune"); returns the summary dict. ``bar`` shows
    a progress line advancing every step.
    """
    variants = check(config, variants)
    setup = prepare(replace(config, optimizer="sgd"))
    rd = ResultDirectory(out, "prune")
    claim = {"run": config.to_dict(), "variants": list(variants), "sgd_counts": bool(sgd_counts)}
    rd.claim(claim, resume=resume)
    try:
        rd.write_summary({"status": "running", "config": config.to_dict(),
                          "variants": list(variants)})
        (rd.path / "variants").mkdir(exist_ok=True)
        return _run_variants(rd, config, setup, variants, sgd_counts, progress, figures, bar)
    finally:
        rd.release()


def _run_variants(rd, config, setup, variants, sgd_counts, progress, figures, bar):
    start = time.perf_counter()
    done = [v for v in variants if variant_path(rd.path, v).is_file()]
    lines, finals = [], {}
    with Progress(len(variants) * (setup.steps + 1), len(done) * (setup.steps + 1),
                  label="prune", enabled=bar) as meter:
        say = None if progress is None else (lambda line: meter.write(line, progress))
        for i, variant in enumerate(variants):
            opt = optimizer_of(config, variant, sgd_counts)
            path = variant_path(rd.path, variant)
            if not path.is_file():
                with np.errstate(all="ignore"):
                    vrows, divergence = train_variant(setup, opt, variant, config.every, say,
                                                      meter.tick)
                if divergence is not None:
                    io.atomic_write_json(path.with_suffix(".divergence.json"), divergence.to_dict())
                io.atomic_write_csv(path, [[r[c] for c in CSV_COLUMNS] for r in vrows],
                                    header=CSV_COLUMNS)
            vrows = [_parse(r) for r in io.read_csv_records(path)]
            lines += path.read_text(encoding="utf-8").splitlines(keepends=True)[1:]
            meter.finish_unit((i + 1) * (setup.steps + 1))
            finals[variant] = _final(vrows, setup.steps, opt, _stored_divergence(rd, variant))
    io.atomic_write_text(rd.path / "prune.csv", ",".join(CSV_COLUMNS) + "\n" + "".join(lines))
    summary = {"status": "completed", "config": config.to_dict(), "variants": list(variants),
               "sgd_counts": bool(sgd_counts), "steps": setup.steps,
               "num_params": setup.model.num_params, "final": finals,
               "divergences": {v: f["divergence"] for v, f in finals.items() if f["divergence"]},
               "wall_s": time.perf_counter() - start}
    return rd.finish(summary, figures)


def _final(vrows, steps, opt, divergence):
    last_eval = [r for r in vrows if not math.isnan(r["test_accuracy"])][-1]
    pruned = np.array([r["n_pruned"] for r in vrows if r["step"] < steps], dtype=float)
    return {"steps_completed": vrows[-1]["step"], "diverged": divergence is not None,
            "divergence": divergence, "train_loss": last_eval["train_loss"],
            "train_accuracy": last_eval["train_accuracy"], "test_loss": last_eval["test_loss"],
            "test_accuracy": last_eval["test_accuracy"],
            "mean_n_pruned": float(np.nanmean(pruned)) if pruned.size else 0.0,
            "optimizer": repr(opt)}


def _stored_divergence(rd, variant):
    path = variant_path(rd.path, variant).with_suffix(".divergence.json")
    return io.read_json(path) if path.is_file() else None


def _parse(record):
    """A row of a variant file back as numbers (variant kept as text, step as int)."""
    return {c: (record[c] if c == "variant" else int(record[c]) if c == "step"
                else float(record[c])) for c in CSV_COLUMNS}


def read_table(path):
    """prune.csv as a dict variant -> {column: float array} (in step order)."""
    records = io.read_csv_records(path)
    out = {}
    for r in records:
        cols = out.setdefault(r["variant"], {c: [] for c in CSV_COLUMNS if c != "variant"})
        for c in cols:
            cols[c].append(float(r[c]))
    return {v: {c: np.array(a) for c, a in cols.items()} for v, cols in out.items()}


def _nan(v):
    return math.nan if v is None else v
