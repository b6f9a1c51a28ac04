"""``refchaos plot DIR...``: redraws figures; a directory it cannot draw is a clear error."""

from __future__ import annotations

from click.testing import CliRunner

from refchaos.experiments.config import RunConfig
from refchaos.experiments.run import run as run_experiment
from refchaos_cli.plot import plot


def test_plot_redraws_and_reports_failures(tmp_path):
    out = tmp_path / "r"
    run_experiment(RunConfig(subset=32, model="mlp:2", steps=4, every=2, batch_size=8,
                             measure=("loss", "accuracy", "maxexp")), out, progress=False)
    for png in (out / "figures").glob("*.png"):
        png.unlink()
    result = CliRunner().invoke(plot, [str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "figures" / "training.png").is_file() and (out / "figures" / "lyapunov.png").is_file()
    assert "2 figure(s)" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(plot, [str(out), str(empty)])
    assert result.exit_code == 1
    assert "holds no refchaos results" in result.output and "1 of 2" in result.output


def test_validation_folder_is_listed_and_redrawn(tmp_path):
    """A validation script's --out folder (kind 'validation'): ls names its figure, plot redraws it."""
    import numpy as np

    from refchaos.plots import validation as figure_data
    from refchaos_cli.ls import ls

    lam = np.concatenate([-np.logspace(-18, 0, 20), np.logspace(-18, 1, 30)])
    figure_data.write(tmp_path, "h22_released_counts", {"lam": lam}, {"zero_tol": 1e-12})
    png = tmp_path / "figures" / "released_counts.png"
    png.unlink()
    result = CliRunner().invoke(plot, [str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert png.is_file() and png.stat().st_size > 0
    result = CliRunner().invoke(ls, [str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "validation, completed, figure of h22_released_counts" in result.output
