import numpy as np
import pytest
import torch

from layerwise import nn
from layerwise.errors import ConfigError, DataError


def test_the_seed_snippet_runs_as_written(digits784, tmp_path, capsys):
    x, y = digits784
    x, x_test, y, y_test = x[:1500], x[1500:], y[:1500], y[1500:]
    # the weights start from torch's global generator, as Keras's do without a seed: seeded
    # here so the result does not depend on what ran before in this process
    torch.manual_seed(0)
    model = nn.Sequential([
        nn.Dense(64, activation="relu", input_shape=(784,)),
        nn.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    shown = capsys.readouterr().out
    assert "50,240" in shown and "(None, 10)" in shown and "50,890" in shown
    history = model.fit(x, y, epochs=5, batch_size=128, validation_split=0.1)
    assert set(history.history) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert len(history.history["loss"]) == 5
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test, y_test)
    assert accuracy > 0.8  # 0.835 to 0.859 over seeds 0-7 after 5 epochs; chance is 0.1
    probs = model.predict(x_test)
    assert probs.shape == (len(x_test), 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    model.save(tmp_path / "mlp/")
    again = nn.load_model(tmp_path / "mlp/")
    np.testing.assert_array_equal(again.predict(x_test), probs)
    assert again.evaluate(x_test, y_test)[1] == pytest.approx(accuracy)


def test_softmax_fused_into_the_loss_is_stable():
    model = nn.Sequential([nn.Dense(2, activation="softmax", input_shape=(1,))])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    assert model.fused == "softmax"
    with torch.no_grad():
        model.layers[0].linear.weight.copy_(torch.tensor([[500.0], [-500.0]]))
    loss = model.evaluate(np.ones((4, 1), "float32"), np.ones(4, "int64"))
    assert np.isfinite(loss) and loss > 100  # the logits' loss, not log(0) = inf


def test_binary_crossentropy_with_sigmoid(digits784):
    x, y = digits784
    model = nn.Sequential(
        [nn.Dense(16, activation="relu", input_shape=(784,)), nn.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    assert model.fused == "sigmoid"
    model.fit(x[:800], (y[:800] == 0).astype("float32"), epochs=3, verbose=0)
    probs = model.predict(x[800:1000])
    assert probs.shape == (200, 1) and 0 <= probs.min() and probs.max() <= 1
    assert model.evaluate(x[800:1000], (y[800:1000] == 0), return_dict=True)["accuracy"] > 0.9


def test_small_cnn_on_8x8_digits(digits):
    x, y = digits
    model = nn.Sequential([
        nn.Conv2D(16, 3, padding="same", activation="relu", input_shape=(1, 8, 8)),
        nn.BatchNormalization(),
        nn.MaxPool2D(2),
        nn.Conv2D(16, 3, padding="same", activation="relu"),
        nn.AvgPool2D(2),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Dense(10, activation="softmax"),
    ])  # fmt: skip
    assert model.layers[2].output_shape == (16, 4, 4)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        learning_rate=3e-3,
    )
    history = model.fit(x[:1400], y[:1400], epochs=5, batch_size=64, verbose=0)
    assert history.history["accuracy"][-1] > 0.8
    assert model.evaluate(x[1400:], y[1400:], return_dict=True)["accuracy"] > 0.85


def test_wrap_a_torch_module(digits784):
    x, y = digits784
    module = torch.nn.Sequential(torch.nn.Linear(784, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    model = nn.Model.wrap(module)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1200], y[:1200], epochs=4, batch_size=64, verbose=0)
    assert model.evaluate(x[1200:], y[1200:])[1] > 0.8
    assert model.predict(x[:3]).shape == (3, 10)
    history = nn.fit(
        module, x[:200], y[:200], compile={"loss": "sparse_categorical_crossentropy"}, verbose=0
    )
    assert len(history.history["loss"]) == 1


def test_lazy_build_from_data_and_regression():
    x = np.random.default_rng(0).normal(size=(256, 3)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5], "float32")
    model = nn.Sequential([nn.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"], learning_rate=0.05)
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0, validation_data=(x, y))
    assert model.input_shape == (3,)
    assert history.history["val_mae"][-1] < 0.2


def test_wrong_input_shape_is_a_data_error(digits784):
    x, y = digits784
    model = nn.Sequential([nn.Dense(10, activation="softmax", input_shape=(784,))])
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(DataError, match=r"expects samples of shape \(784,\).*received \(10, 64\)"):
        model.fit(np.zeros((10, 64), "float32"), y[:10])
    with pytest.raises(DataError, match="received"):
        model.predict(np.zeros((5, 28, 28), "float32"))


def test_labels_outside_the_softmax_range(digits784):
    x, _ = digits784
    model = nn.Sequential([nn.Dense(10, activation="softmax", input_shape=(784,))])
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(DataError, match=r"\[0, 9\].*found label 12"):
        model.fit(x[:4], np.array([0, 1, 12, 3]))
    with pytest.raises(DataError, match="found label -1"):
        model.evaluate(x[:2], np.array([0, -1]))


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ConfigError, match="Did you mean 'relu'.*Valid activations"):
        nn.Dense(3, activation="rleu")
    model = nn.Sequential([nn.Dense(2, input_shape=(3,))])
    with pytest.raises(ConfigError, match="Unknown loss.*sparse_categorical_crossentropy"):
        model.compile(loss="sparse_crossentropy")
    with pytest.raises(ConfigError, match="Valid optimizers: sgd, adam, adamw, rmsprop"):
        model.compile(optimizer="adagrad", loss="mse")
    with pytest.raises(ConfigError, match="Unknown metric"):
        model.compile(loss="mse", metrics=["f1"])
    with pytest.raises(ConfigError, match="he_normal"):
        nn.Dense(3, kernel_initializer="he_norml")
    with pytest.raises(ConfigError, match="not compiled"):
        model.fit(np.zeros((2, 3)), np.zeros(2))


def test_export_to_onnx_matches_predict(tmp_path):
    import numpy as np
    import onnxruntime

    from layerwise import nn

    model = nn.Sequential(
        [nn.Dense(16, activation="relu", input_shape=(8,)), nn.Dense(3, activation="softmax")]
    )
    path = model.export(tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": x})
    np.testing.assert_allclose(out, model.predict(x), atol=1e-5)


def test_schedule_by_name_and_unknown_schedule():
    from layerwise import nn

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = nn.Sequential([nn.Dense(2, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", schedule="cosine")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    lrs = history.history["lr"]
    assert lrs[0] > lrs[1] > lrs[2]  # cosine decay, recorded per epoch
    with pytest.raises(ConfigError, match="cosine"):
        model.compile(loss="mse", schedule="cosin")


def test_channels_last_trains_a_convnet_the_same():
    from layerwise.engine import Trainer, TrainerConfig

    x = torch.randn(32, 1, 8, 8)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 2)
        )
        config = TrainerConfig(epochs=2, batch_size=8, progress=False, channels_last=channels_last)
        trainer = Trainer(net, torch.nn.functional.cross_entropy, config)
        trainer.fit((x, y))
        results.append(trainer.predict(x))
    torch.testing.assert_close(results[0], results[1], atol=1e-4, rtol=1e-4)
