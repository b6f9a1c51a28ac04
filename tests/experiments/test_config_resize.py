"""``extra["resize"]``: MNIST / Fashion-MNIST at 16x16 for an MLP (H22's FashionMNIST setup);
the CNN's model strings (channels, pooling)."""

from __future__ import annotations

from pathlib import Path

import pytest

from refchaos.experiments import RunConfig
from refchaos.experiments.config import ConfigError, build_model, model_input_layout, parse_model_string
from refchaos.experiments.setup import prepare
from refchaos.nn import cnn

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_layout_default_and_resize():
    assert model_input_layout(RunConfig(dataset="fashion-mnist", model="mlp:20")) == (True, None)
    assert model_input_layout(RunConfig(dataset="fashion-mnist", model="cnn")) == (False, 16)
    assert model_input_layout(RunConfig(dataset="mnist", model="mlp:20",
                                        extra={"resize": 16})) == (True, 16)


def test_cnn_model_strings_name_channels_and_pooling():
    assert parse_model_string("cnn") == ("cnn", {"channels": 4, "pool": "max"})
    assert parse_model_string("cnn:3") == ("cnn", {"channels": 3, "pool": "max"})
    assert parse_model_string("cnn:avg") == ("cnn", {"channels": 4, "pool": "avg"})
    assert parse_model_string("cnn:4:avg") == parse_model_string("cnn:avg:4")
    for bad in ("cnn:0", "cnn:x", "cnn:4:avg:max", "cnn:2:3", "cnn:min"):
        with pytest.raises(ConfigError, match="optionally the pooling :max or :avg"):
            parse_model_string(bad)
    model = build_model(RunConfig(dataset="usps", model="cnn:2:avg"), (1, 16, 16), 10)
    assert [l.kind for l in model.layers][2::3][:4] == ["avgpool2d"] * 4
    assert model.num_params == cnn(channels=2).num_params


def test_resize_of_another_dataset_is_refused():
    with pytest.raises(ConfigError, match="mnist and fashion-mnist only"):
        model_input_layout(RunConfig(dataset="digits", model="mlp:20", extra={"resize": 16}))


@pytest.mark.skipif(not (DATA / "fashion-mnist").is_dir(), reason="no Fashion-MNIST files")
def test_fashion_mnist_mlp_at_16x16_is_h22s_256_20_10():
    s = prepare(RunConfig(dataset="fashion-mnist", data_dir=str(DATA), model="mlp:20",
                          extra={"resize": 16}, subset=64, batch_size=8))
    assert s.x_train.shape == (64, 256) and s.model.num_params == 256 * 20 + 20 + 20 * 10 + 10
