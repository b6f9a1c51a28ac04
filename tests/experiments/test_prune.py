"""H22 Figs. 1, 2: SGD and CGD variants share theta(0) and batches; CGD prunes the chaotic set."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from refchaos.experiments.config import ConfigError
from refchaos.experiments.prune import default_config, read_table, run_prune

TINY = replace(default_config(), model="mlp:4", steps=8, every=4, lr=0.5)


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    out = tmp_path_factory.mktemp("prune")
    summary = run_prune(TINY, out)
    return out, summary, read_table(out / "prune.csv")


def test_variants_share_initial_theta_and_batches(pruned):
    _, _, table = pruned
    first = {v: (c["loss"][0], c["train_loss"][0], c["test_accuracy"][0]) for v, c in table.items()}
    assert set(first) == {"sgd", "chaotic", "negative", "positive"}
    assert len(set(first.values())) == 1  # identical: same theta(0), same first batch


def test_cgd_prunes_exactly_the_chaotic_set(pruned):
    _, _, table = pruned
    c = table["chaotic"]
    steps = c["step"] < TINY.steps
    assert (c["chaotic"][steps] > 0).any()
    np.testing.assert_array_equal(c["n_pruned"][steps], c["chaotic"][steps])
    np.testing.assert_array_equal(table["negative"]["n_pruned"][steps], table["negative"]["negative"][steps])
    assert (table["sgd"]["n_pruned"][steps] == 0).all() and (table["sgd"]["chaotic"][steps] > 0).any()
    for v, cols in table.items():  # counts add up to N
        total = cols["negative"] + cols["positive"] + cols["zero"]
        assert (total[steps] == 4 * 64 + 4 + 4 * 10 + 10).all(), v


def test_sgd_with_counts_is_plain_sgd(pruned, tmp_path):
    _, _, table = pruned
    run_prune(TINY, tmp_path, variants=("sgd",), sgd_counts=False, figures=False)
    plain = read_table(tmp_path / "prune.csv")["sgd"]
    np.testing.assert_array_equal(plain["loss"], table["sgd"]["loss"])
    assert np.isnan(plain["chaotic"][:-1]).all()


def test_prune_k_limits_directions(tmp_path):
    run_prune(replace(TINY, prune_k=2, steps=4), tmp_path, variants=("chaotic",), figures=False)
    c = read_table(tmp_path / "prune.csv")["chaotic"]
    np.testing.assert_array_equal(c["n_pruned"][:-1], np.minimum(2, c["chaotic"][:-1]))


def test_files_and_summary(pruned):
    out, summary, table = pruned
    doc = json.loads((out / "summary.json").read_text())
    assert doc["kind"] == "prune" and doc["steps"] == TINY.steps
    assert set(doc["final"]) == set(table)
    for name in ("prune.png", "counts.png"):
        assert (out / "figures" / name).read_bytes()[:4] == b"\x89PNG"
    evals = table["sgd"]["step"][np.isfinite(table["sgd"]["test_accuracy"])]
    np.testing.assert_array_equal(evals, [0, 4, 8])


def test_prune_figure_marks_a_divergence(pruned):
    # A diverged variant's curve stops at its last evaluation; the figure says where it diverged
    from refchaos.plots.prune import _curves

    _, summary, table = pruned
    doc = {**summary, "divergences": {"positive": {"step": 7, "message": "the loss 1e+09 exceeds"}}}
    fig = _curves(table, doc)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "CGD, pruning positive (diverged at step 7)" in labels
    assert "SGD" in labels and not any("diverged" in t for t in labels if "positive" not in t)
    for ax in fig.axes:  # one vertical line per panel, at the divergence step
        assert [tuple(line.get_xdata()) for line in ax.lines if len(set(line.get_xdata())) == 1
                and len(line.get_xdata()) == 2] == [(7, 7)]
    plain = _curves(table, summary)
    assert not any("diverged" in t.get_text() for t in plain.axes[0].get_legend().get_texts())


def test_unknown_variant_is_named(tmp_path):
    with pytest.raises(ConfigError, match="'zero'"):
        run_prune(TINY, tmp_path / "x", variants=("sgd", "zero"))
    assert not (tmp_path / "x").exists()
