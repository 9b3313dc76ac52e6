import csv

import numpy as np
import pytest
from safetensors.torch import load_file

from layerwise import nn


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def mlp(lr=0.01):
    model = nn.Sequential(
        [nn.Dense(8, activation="relu", input_shape=(4,)), nn.Dense(2, activation="softmax")]
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        learning_rate=lr,
    )
    return model


class Worse(nn.Callback):
    """Pretends val_loss gets worse every epoch, so the plateau callbacks fire."""

    def on_epoch_end(self, trainer, record):
        record["val_loss"] = float(record["epoch"])


def test_early_stopping_stops_and_restores(data):
    x, y = data
    model = mlp()
    stop = nn.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=20, validation_split=0.2, callbacks=[Worse(), stop], verbose=0)
    assert len(history.history["loss"]) == 3 and model.stopped_reason == "callback"
    assert stop.stopped_epoch == 3


def test_reduce_lr_on_plateau_lowers_lr(data):
    x, y = data
    history = mlp().fit(
        x, y, epochs=4, validation_split=0.2, verbose=0,
        callbacks=[Worse(), nn.ReduceLROnPlateau(factor=0.5, patience=1)],
    )  # fmt: skip
    assert history.history["lr"] == pytest.approx(
        [0.01, 0.01, 0.005, 0.0025]
    )  # from the next epoch


def test_csv_logger_writes_one_row_per_epoch(data, tmp_path):
    x, y = data
    mlp().fit(
        x,
        y,
        epochs=3,
        validation_split=0.2,
        verbose=0,
        callbacks=[nn.CSVLogger(tmp_path / "log.csv")],
    )
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])


def test_model_checkpoint_writes_safetensors(data, tmp_path):
    x, y = data
    model = mlp()
    best = nn.ModelCheckpoint(tmp_path / "best.safetensors", save_best_only=True)
    every = nn.ModelCheckpoint(tmp_path / "e{epoch}.safetensors")
    model.fit(x, y, epochs=2, validation_split=0.2, verbose=0, callbacks=[best, every])
    assert (tmp_path / "e1.safetensors").is_file() and (tmp_path / "e2.safetensors").is_file()
    state = load_file(tmp_path / "best.safetensors")
    assert set(state) == set(model.state_dict())


def test_terminate_on_nan_stops_without_raising(data):
    x, y = data
    x = x.copy()
    x[5:] = np.nan
    model = mlp()
    model.compile(loss="mse")
    with pytest.raises(Exception, match="became nan"):
        model.fit(x, y.astype("float32")[:, None].repeat(2, 1), epochs=2, verbose=0)
    history = model.fit(
        x,
        y.astype("float32")[:, None].repeat(2, 1),
        epochs=2,
        verbose=0,
        callbacks=[nn.TerminateOnNaN()],
    )
    assert model.stopped_reason == "NaN loss" and len(history) == 0
