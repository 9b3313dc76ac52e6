import numpy as np
import pytest
import torch

from layerwise import nn
from layerwise.errors import ConfigError

MLP = """\
format: layerwise.model/1
name: mlp
input_shape: [784]
layers:
  - Dense: {units: 64, activation: relu}
  - Dense: {units: 10, activation: softmax}
"""


def every_layer_model():
    image = nn.Sequential([
        nn.Conv2D(4, 3, padding="same", activation="relu", input_shape=(1, 8, 8)),
        nn.BatchNormalization(),
        nn.LocalResponseNormalization(size=3),
        nn.MaxPool2D(2, ceil_mode=True),
        nn.AvgPool2D(2, strides=1, padding="same"),
        nn.Conv2D(6, [2, 2], strides=2, kernel_initializer="he_normal"),
        nn.GlobalMaxPooling2D(),
        nn.Reshape([2, 3]),
        nn.Conv1D(4, 1, activation="gelu"),
        nn.MaxPool1D(1),
        nn.AvgPool1D(1),
        nn.GlobalAveragePooling1D(),
        nn.Dropout(0.2),
        nn.Dense(3, activation="tanh"),
    ])  # fmt: skip
    text = nn.Sequential([
        nn.Embedding(input_dim=20, output_dim=8, input_shape=(5,)),
        nn.MultiHeadAttention(num_heads=2, key_dim=4),
        nn.LayerNormalization(),
        nn.TransformerEncoder(num_heads=2, ff_dim=16, dropout=0.0),
        nn.LSTM(6, return_sequences=True),
        nn.GRU(5),
        nn.Activation("softmax"),
    ])  # fmt: skip
    return image, text


def test_yaml_text_is_the_documented_format():
    model = nn.Sequential.from_yaml(MLP)
    assert model.output_shape == (10,) and model.name == "mlp"
    assert model.to_yaml() == MLP.replace("  - ", "- ")


def test_every_layer_round_trips_through_yaml():
    image, text = every_layer_model()
    assert image.output_shape == (3,) and text.output_shape == (5,)
    for model, x in ((image, torch.rand(2, 1, 8, 8)), (text, torch.randint(0, 20, (2, 5)))):
        again = nn.Sequential.from_yaml(model.to_yaml())
        assert again.to_yaml() == model.to_yaml()
        again.load_state_dict(model.state_dict())
        model.eval(), again.eval()
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


def test_load_yaml_from_a_file_and_train(tmp_path, digits784):
    path = tmp_path / "mlp.yaml"
    path.write_text(MLP)
    model = nn.load_yaml(path)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["acc"])
    x, y = digits784
    model.fit(x[:300], y[:300], epochs=1, verbose=0)


def test_save_and_load_round_trip_predictions(tmp_path):
    _, text = every_layer_model()
    text.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).integers(0, 20, size=(16, 5))
    y = np.eye(5, dtype="float32")[np.arange(16) % 5]
    text.fit(x, y, epochs=1, batch_size=8, verbose=0)
    text.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "compile.json",
        "model.safetensors",
        "model.yaml",
    ]
    again = nn.load_model(tmp_path / "m")
    assert again.compile_config == text.compile_config
    np.testing.assert_array_equal(again.predict(x), text.predict(x))


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        (
            "  - Dense: {unitz: 3}",
            r"layers\[0\] \(Dense\): unknown key 'unitz'. Did you mean 'units'",
        ),
        (
            "  - Dense: {units: 3}\n  - Dens: {units: 2}",
            r"layers\[1\]: unknown layer 'Dens'. Did you mean 'Dense'",
        ),
        ("  - Dense: {activation: relu}", r"layers\[0\] \(Dense\).*units"),
        (
            "  - Dense: {units: 3, activation: rellu}",
            r"layers\[0\] \(Dense\): Unknown activation 'rellu'",
        ),
        ("  - Dense", r"layers\[0\] is 'Dense'"),
    ],
)
def test_yaml_typos_point_at_the_layer_and_key(tmp_path, layers, match):
    path = tmp_path / "bad.yaml"
    path.write_text(f"input_shape: [4]\nlayers:\n{layers}\n")
    with pytest.raises(ConfigError, match=match) as info:
        nn.load_yaml(path)
    assert "bad.yaml" in str(info.value)


def test_model_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'input_shape'"):
        nn.Sequential.from_yaml("input_shap: [3]\nlayers:\n  - Dense: {units: 1}\n")
    with pytest.raises(ConfigError, match="not supported"):
        nn.Sequential.from_yaml("format: other/2\nlayers:\n  - Dense: {units: 1}\n")
    with pytest.raises(ConfigError, match="not a saved model"):
        nn.load_model(tmp_path)
    with pytest.raises(ConfigError, match=r"Conv2D.*\(C, H, W\)"):
        nn.Sequential([nn.Dense(3, input_shape=(4,)), nn.Conv2D(2, 3)])


def test_import_is_lazy_and_does_not_shadow():
    import subprocess
    import sys

    code = "import sys, layerwise.nn; print('layerwise.nn.layers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert nn.Dense is nn.Dense and "Dense" in dir(nn)
