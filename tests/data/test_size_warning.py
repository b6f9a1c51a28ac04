"""A dataset file that parses but holds fewer examples than the publisher's is named in a warning."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest

from refchaos.data import DataSizeWarning, load


def _esl(path, n, seed):
    """An ESL-format USPS file of n rows: label, then 256 grey values in [-1, 1]."""
    rng = np.random.default_rng(seed)
    lines = [" ".join([f"{d}.0000"] + [f"{v:.4f}" for v in rng.uniform(-1, 1, 256)])
             for d in rng.integers(0, 10, n)]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def test_short_usps_file_warns_naming_it(tmp_path):
    folder = tmp_path / "usps"
    folder.mkdir()
    _esl(folder / "zip.train.gz", 30, 0)
    _esl(folder / "zip.test.gz", 12, 1)
    with pytest.warns(DataSizeWarning) as caught:
        x, _ = load("usps", "train", data_dir=tmp_path, source="esl")
    assert x.shape[0] == 30
    message = str(caught[0].message)
    assert "zip.train.gz" in message and "30 examples" in message and "7291" in message


def test_embedded_digits_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataSizeWarning)
        load("digits", "test")
