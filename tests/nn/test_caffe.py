"""Caffe prototxt import: the parser, the layer mapping, the errors and the CLI command."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from layerwise.errors import ConfigError
from layerwise.nn.caffe import caffe_to_config, import_caffe, parse_prototxt

# Caffe's examples/mnist/lenet_train_test.prototxt, as shipped with Caffe.
LENET_TRAIN_TEST = """\
name: "LeNet"
layer {
  name: "mnist"
  type: "Data"
  top: "data"
  top: "label"
  include {
    phase: TRAIN
  }
  transform_param {
    scale: 0.00390625
  }
  data_param {
    source: "examples/mnist/mnist_train_lmdb"
    batch_size: 64
    backend: LMDB
  }
}
layer {
  name: "mnist"
  type: "Data"
  top: "data"
  top: "label"
  include {
    phase: TEST
  }
  transform_param {
    scale: 0.00390625
  }
  data_param {
    source: "examples/mnist/mnist_test_lmdb"
    batch_size: 100
    backend: LMDB
  }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  param {
    lr_mult: 1
  }
  param {
    lr_mult: 2
  }
  convolution_param {
    num_output: 20
    kernel_size: 5
    stride: 1
    weight_filler {
      type: "xavier"
    }
    bias_filler {
      type: "constant"
    }
  }
}
layer {
  name: "pool1"
  type: "Pooling"
  bottom: "conv1"
  top: "pool1"
  pooling_param {
    pool: MAX
    kernel_size: 2
    stride: 2
  }
}
layer {
  name: "conv2"
  type: "Convolution"
  bottom: "pool1"
  top: "conv2"
  param {
    lr_mult: 1
  }
  param {
    lr_mult: 2
  }
  convolution_param {
    num_output: 50
    kernel_size: 5
    stride: 1
    weight_filler {
      type: "xavier"
    }
    bias_filler {
      type: "constant"
    }
  }
}
layer {
  name: "pool2"
  type: "Pooling"
  bottom: "conv2"
  top: "pool2"
  pooling_param {
    pool: MAX
    kernel_size: 2
    stride: 2
  }
}
layer {
  name: "ip1"
  type: "InnerProduct"
  bottom: "pool2"
  top: "ip1"
  param {
    lr_mult: 1
  }
  param {
    lr_mult: 2
  }
  inner_product_param {
    num_output: 500
    weight_filler {
      type: "xavier"
    }
    bias_filler {
      type: "constant"
    }
  }
}
layer {
  name: "relu1"
  type: "ReLU"
  bottom: "ip1"
  top: "ip1"
}
layer {
  name: "ip2"
  type: "InnerProduct"
  bottom: "ip1"
  top: "ip2"
  param {
    lr_mult: 1
  }
  param {
    lr_mult: 2
  }
  inner_product_param {
    num_output: 10
    weight_filler {
      type: "xavier"
    }
    bias_filler {
      type: "constant"
    }
  }
}
layer {
  name: "accuracy"
  type: "Accuracy"
  bottom: "ip2"
  bottom: "label"
  top: "accuracy"
  include {
    phase: TEST
  }
}
layer {
  name: "loss"
  type: "SoftmaxWithLoss"
  bottom: "ip2"
  bottom: "label"
  top: "loss"
}
"""

# Caffe's examples/mnist/lenet.prototxt (the deploy network), inputs given by input_dim.
LENET_DEPLOY = """\
name: "LeNet"
input: "data"
input_dim: 64
input_dim: 1
input_dim: 28
input_dim: 28
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 20 kernel_size: 5 stride: 1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param { num_output: 50 kernel_size: 5 stride: 1 } }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1"
  inner_product_param { num_output: 500 } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }
"""

# The same network in the legacy V1 format (`layers { type: ENUM }`, `include: { ... }`).
LENET_LEGACY = """\
name: "LeNet"
layers {
  name: "mnist"
  type: DATA
  top: "data"
  top: "label"
  data_param { source: "mnist_train_lmdb" backend: LMDB batch_size: 64 }
  transform_param { scale: 0.00390625 }
  include: { phase: TRAIN }
}
layers {
  name: "mnist"
  type: DATA
  top: "data"
  top: "label"
  data_param { source: "mnist_test_lmdb" backend: LMDB batch_size: 100 }
  transform_param { scale: 0.00390625 }
  include: { phase: TEST }
}
layers {
  name: "conv1"
  type: CONVOLUTION
  bottom: "data"
  top: "conv1"
  blobs_lr: 1
  blobs_lr: 2
  convolution_param { num_output: 20 kernel_size: 5 stride: 1 weight_filler { type: "xavier" } }
}
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layers { name: "conv2" type: CONVOLUTION bottom: "pool1" top: "conv2"
  convolution_param { num_output: 50 kernel_size: 5 stride: 1 } }
layers { name: "pool2" type: POOLING bottom: "conv2" top: "pool2"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layers { name: "ip1" type: INNER_PRODUCT bottom: "pool2" top: "ip1"
  inner_product_param { num_output: 500 } }
layers { name: "relu1" type: RELU bottom: "ip1" top: "ip1" }
layers { name: "ip2" type: INNER_PRODUCT bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 10 } }
layers { name: "accuracy" type: ACCURACY bottom: "ip2" bottom: "label" top: "accuracy"
  include: { phase: TEST } }
layers { name: "loss" type: SOFTMAX_LOSS bottom: "ip2" bottom: "label" top: "loss" }
"""

LENET_LAYERS = [
    {"Conv2D": {"filters": 20, "kernel_size": 5, "strides": 1, "padding": 0, "use_bias": True}},
    {"MaxPool2D": {"pool_size": 2, "strides": 2, "padding": 0, "ceil_mode": True}},
    {"Conv2D": {"filters": 50, "kernel_size": 5, "strides": 1, "padding": 0, "use_bias": True}},
    {"MaxPool2D": {"pool_size": 2, "strides": 2, "padding": 0, "ceil_mode": True}},
    {"Flatten": {}},
    {"Dense": {"units": 500, "use_bias": True}},
    {"Activation": {"activation": "relu"}},
    {"Dense": {"units": 10, "use_bias": True}},
    {"Activation": {"activation": "softmax"}},
]


def write(name: str, text: str) -> Path:
    path = Path(name)  # the conftest runs every test in its own tmp folder
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------- the parser


def test_parse_fields_messages_repeats_comments_and_lines():
    tree = parse_prototxt(
        'name: "Le\\"Net"  # a comment { not a brace\n'
        "layer {\n"
        "  dims: 1 dims: 2\n"
        "  param { alpha: 1e-4 flag: true pool: MAX neg: -3 }\n"
        "  list: [1, 2, 3];\n"
        "}\n"
    )
    assert tree["name"] == ['Le"Net']
    layer = tree["layer"][0]
    assert layer["__line__"] == 2
    assert layer["dims"] == [1, 2]
    assert layer["list"] == [1, 2, 3]
    param = layer["param"][0]
    assert param["__line__"] == 4
    assert (param["alpha"], param["flag"], param["pool"], param["neg"]) == (
        [1e-4],
        [True],
        ["MAX"],
        [-3],
    )


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('name: "x"\nlayer {\n  type: "ReLU"\n', 2, "never closed"),
        ('name: "x"\nlayer { type: "ReLU" }\n}\n', 3, "unbalanced"),
        ("layer {\n  convolution_param {\n    num_output:\n    kernel_size: 5\n  }\n}\n", 3,
         "'num_output' has no value"),
        ("layer {\n  num_output: }\n", 2, "no value"),
        ('name: "x"\nlayer {\n  type: "ReLU\n}\n', 3, "unterminated string"),
    ],
)  # fmt: skip
def test_malformed_text_names_the_file_and_line(text, line, words):
    with pytest.raises(ConfigError) as caught:
        caffe_to_config(write("broken.prototxt", text))
    message = str(caught.value)
    assert f"broken.prototxt, line {line}" in message
    assert words in message


def test_missing_file_is_a_clear_error():
    with pytest.raises(ConfigError, match="'nope.prototxt' does not exist"):
        caffe_to_config("nope.prototxt")


# ------------------------------------------------------------------------- the mapping


def test_lenet_train_test_with_data_layers_and_phases():
    config = caffe_to_config(write("lenet_train_test.prototxt", LENET_TRAIN_TEST), "1,28,28")
    assert config == {
        "format": "layerwise.model/1",
        "name": "LeNet",
        "input_shape": [1, 28, 28],
        "source": "lenet_train_test.prototxt",
        "loss": "sparse_categorical_crossentropy",
        "layers": LENET_LAYERS,
    }
    assert list(config) == ["format", "name", "input_shape", "source", "loss", "layers"]


def test_data_layer_without_input_shape_says_to_pass_one():
    with pytest.raises(ConfigError) as caught:
        caffe_to_config(write("lenet_train_test.prototxt", LENET_TRAIN_TEST))
    assert "layer 'mnist'" in str(caught.value)
    assert "--input-shape C,H,W" in str(caught.value)


def test_lenet_deploy_with_input_dims():
    config = caffe_to_config(LENET_DEPLOY)
    assert config["input_shape"] == [1, 28, 28]  # the batch dim 64 is dropped
    assert config["layers"] == LENET_LAYERS
    assert "loss" not in config and "source" not in config


def test_legacy_layers_form():
    config = caffe_to_config(LENET_LEGACY, input_shape=(1, 28, 28))
    assert config["layers"] == LENET_LAYERS
    assert config["loss"] == "sparse_categorical_crossentropy"


@pytest.mark.parametrize(
    "header",
    [
        'input: "data"\ninput_shape { dim: 10 dim: 1 dim: 28 dim: 28 }\n',
        'layer { name: "data" type: "Input" top: "data"\n'
        "  input_param { shape { dim: 64 dim: 1 dim: 28 dim: 28 } } }\n",
    ],
)
def test_input_shape_message_and_input_layer(header):
    body = LENET_DEPLOY.split("input_dim: 28\n", 2)[2]
    config = caffe_to_config('name: "LeNet"\n' + header + body)
    assert config["input_shape"] == [1, 28, 28]
    assert config["layers"] == LENET_LAYERS


OTHER_TYPES_NET = """
    input: "x" input_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32
    layer { name: "c" type: "Convolution" bottom: "x" top: "c"
      convolution_param { num_output: 8 kernel_h: 3 kernel_w: 5 stride: 2 pad: 1 pad: 2
                          bias_term: false } }
    layer { name: "bn" type: "BatchNorm" bottom: "c" top: "c" batch_norm_param { eps: 0.001 } }
    layer { name: "sc" type: "Scale" bottom: "c" top: "c" scale_param { bias_term: true } }
    layer { name: "r" type: "ReLU" bottom: "c" top: "c" relu_param { negative_slope: 0.1 } }
    layer { name: "n" type: "LRN" bottom: "c" top: "n"
      lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 } }
    layer { name: "p" type: "Pooling" bottom: "n" top: "p"
      pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
    layer { name: "t" type: "TanH" bottom: "p" top: "p" }
    layer { name: "g" type: "Pooling" bottom: "p" top: "g" pooling_param { pool: AVE global_pooling: true } }
    layer { name: "d" type: "Dropout" bottom: "g" top: "g" dropout_param { dropout_ratio: 0.3 } }
    layer { name: "ip" type: "InnerProduct" bottom: "g" top: "ip" inner_product_param { num_output: 4 } }
    layer { name: "s" type: "Sigmoid" bottom: "ip" top: "s" }
    """


def test_other_layer_types_and_options():
    assert caffe_to_config(OTHER_TYPES_NET)["layers"] == [
        {"Conv2D": {"filters": 8, "kernel_size": [3, 5], "strides": 2, "padding": [1, 2],
                    "use_bias": False}},
        {"BatchNormalization": {"epsilon": 0.001}},
        {"Activation": {"activation": "leaky_relu", "negative_slope": 0.1}},
        {"LocalResponseNormalization": {"size": 3, "alpha": 0.0001, "beta": 0.75, "k": 1.0}},
        {"AvgPool2D": {"pool_size": 3, "strides": 2, "padding": 1, "ceil_mode": True}},
        {"Activation": {"activation": "tanh"}},
        {"GlobalAveragePooling2D": {}},
        {"Dropout": {"rate": 0.3}},
        {"Dense": {"units": 4, "use_bias": True}},  # no Flatten after global pooling
        {"Activation": {"activation": "sigmoid"}},
    ]  # fmt: skip


# ------------------------------------------------------------------------- the errors

CONCAT_NET = """\
name: "Branchy"
input: "data"
input_dim: 1 input_dim: 1 input_dim: 28 input_dim: 28
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "conv2" type: "Convolution" bottom: "data" top: "conv2"
  convolution_param { num_output: 4 kernel_size: 3 } }
layer {
  name: "conv2_concat"
  type: "Concat"
  bottom: "conv1"
  bottom: "conv2"
  top: "concat"
}
"""


def test_unsupported_layer_names_the_layer_type_and_line():
    with pytest.raises(ConfigError) as caught:
        caffe_to_config(
            CONCAT_NET.replace('bottom: "data" top: "conv2"', 'bottom: "conv1" top: "conv2"')
        )
    message = str(caught.value)
    assert "layer 'conv2_concat' (type Concat, line 8) is not supported yet" in message
    assert "Convolution" in message and "InnerProduct" in message  # the supported types


def test_legacy_unsupported_enum_type():
    text = LENET_DEPLOY.replace('type: "Softmax"', "type: ELTWISE")
    with pytest.raises(
        ConfigError, match=r"layer 'prob' \(type Eltwise, line 20\) is not supported"
    ):
        caffe_to_config(text)


def test_branching_graph_names_the_layer():
    with pytest.raises(ConfigError) as caught:
        caffe_to_config(CONCAT_NET)
    message = str(caught.value)
    assert "layer 'conv2' (type Convolution, line 6)" in message
    assert "chains" in message


def test_grouped_convolution_is_rejected():
    text = LENET_DEPLOY.replace("num_output: 50", "num_output: 50 group: 2")
    with pytest.raises(ConfigError, match="layer 'conv2'.*group"):
        caffe_to_config(text)


def test_bad_input_shape_option():
    with pytest.raises(ConfigError, match="--input-shape"):
        caffe_to_config(LENET_TRAIN_TEST, input_shape="1,28,-2")


# ------------------------------------------------------------------------- the command


def test_cli_writes_the_model_file(capsys):
    from layerwise.cli.import_caffe import import_caffe as command

    write("lenet.prototxt", LENET_TRAIN_TEST)
    command("lenet.prototxt", output="lenet.yaml", input_shape="1,28,28")
    printed = capsys.readouterr().out
    assert "lenet.yaml" in printed
    assert "9 layers, input shape (1, 28, 28)" in printed
    assert "layerwise train data --model lenet.yaml" in printed
    text = Path("lenet.yaml").read_text(encoding="utf-8")
    assert "- Conv2D: {filters: 20, kernel_size: 5, strides: 1, padding: 0, use_bias: true}" in text
    assert yaml.safe_load(text) == caffe_to_config("lenet.prototxt", "1,28,28")


def test_cli_default_output_and_errors():
    from layerwise.cli.import_caffe import import_caffe as command

    write("deploy.prototxt", LENET_DEPLOY)
    command("deploy.prototxt", output=None, input_shape=None)
    assert yaml.safe_load(Path("deploy.yaml").read_text())["layers"] == LENET_LAYERS
    with pytest.raises(ConfigError, match="--input-shape"):
        command(str(write("tt.prototxt", LENET_TRAIN_TEST)), output="tt.yaml", input_shape=None)
    assert not Path("tt.yaml").exists()


def test_imported_model_builds_and_runs():
    import torch

    import layerwise.nn

    write("lenet.prototxt", LENET_TRAIN_TEST)
    import_caffe("lenet.prototxt", "lenet.yaml", input_shape="1,28,28")
    model = layerwise.nn.Sequential.from_yaml("lenet.yaml")
    model.eval()
    with torch.no_grad():
        output = model(torch.randn(2, 1, 28, 28))
    assert tuple(output.shape) == (2, 10)


def test_other_imported_layer_types_build_and_run():

    import torch

    from layerwise.nn.sequential import from_config

    # pad_h != pad_w is the one option here the nn layers may not take; keep it square
    text = OTHER_TYPES_NET.replace("pad: 1 pad: 2", "pad: 1")
    model = from_config(caffe_to_config(text))
    model.eval()
    with torch.no_grad():
        output = model(torch.randn(2, 3, 32, 32))
    assert tuple(output.shape) == (2, 4)


def test_unequal_caffe_padding_builds(tmp_path):
    text = """
name: "Pad"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 12 input_dim: 10
layer { name: "c" type: "Convolution" bottom: "data" top: "c"
        convolution_param { num_output: 4 kernel_size: 3 pad_h: 1 pad_w: 2 } }
"""
    import torch

    from layerwise.nn.sequential import from_config

    config = caffe_to_config(text)
    assert config["layers"][0]["Conv2D"]["padding"] == [1, 2]
    model = from_config(config)

    assert tuple(model(torch.zeros(2, 3, 12, 10)).shape) == (2, 4, 12, 12)


SMALL_LENET = """
name: "SmallLeNet"
input: "data"
input_dim: 1 input_dim: 1 input_dim: 28 input_dim: 28
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 5 stride: 1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 16 kernel_size: 5 stride: 1 } }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1" inner_product_param { num_output: 64 } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2" inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }
"""


def test_imported_lenet_trains_like_any_model(tmp_path):
    """The Caffe network, imported to YAML, learns digits through layerwise.nn."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    from layerwise import nn

    (tmp_path / "lenet.prototxt").write_text(SMALL_LENET)
    import_caffe(tmp_path / "lenet.prototxt", tmp_path / "lenet.yaml")
    model = nn.load_yaml(tmp_path / "lenet.yaml")
    digits = load_digits()
    images = torch.tensor(digits.images[:, None], dtype=torch.float32) / 16.0
    x = torch.nn.functional.interpolate(images, size=(28, 28), mode="bilinear").numpy()
    y = digits.target
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1400], y[:1400], epochs=3, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x[1400:], y[1400:])
    assert accuracy > 0.8
    assert np.allclose(model.predict(x[1400:1405]).sum(axis=1), 1.0, atol=1e-5)
