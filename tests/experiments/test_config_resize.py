"""``extra["resize"]``: MNIST / Fashion-MNIST at 16x16 for an MLP (H22's FashionMNIST setup)."""

from __future__ import annotations

from pathlib import Path

import pytest

from refchaos.experiments import RunConfig
from refchaos.experiments.config import ConfigError, model_input_layout
from refchaos.experiments.setup import prepare

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_layout_default_and_resize():
    assert model_input_layout(RunConfig(dataset="fashion-mnist", model="mlp:20")) == (True, None)
    assert model_input_layout(RunConfig(dataset="fashion-mnist", model="cnn")) == (False, 16)
    assert model_input_layout(RunConfig(dataset="mnist", model="mlp:20",
                                        extra={"resize": 16})) == (True, 16)


def test_resize_of_another_dataset_is_refused():
    with pytest.raises(ConfigError, match="mnist and fashion-mnist only"):
        model_input_layout(RunConfig(dataset="digits", model="mlp:20", extra={"resize": 16}))


@pytest.mark.skipif(not (DATA / "fashion-mnist").is_dir(), reason="no Fashion-MNIST files")
def test_fashion_mnist_mlp_at_16x16_is_h22s_256_20_10():
    s = prepare(RunConfig(dataset="fashion-mnist", data_dir=str(DATA), model="mlp:20",
                          extra={"resize": 16}, subset=64, batch_size=8))
    assert s.x_train.shape == (64, 256) and s.model.num_params == 256 * 20 + 20 + 20 * 10 + 10
