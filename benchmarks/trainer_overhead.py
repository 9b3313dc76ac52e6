"""Training-engine overhead: layerwise against hand-written PyTorch loops, side by side.

The same model, data, batch size, optimizer (Adam, lr 1e-3) and epochs are trained by
(a) layerwise (``layerwise.nn`` ``fit`` when it exists, else the ``layerwise.engine.Trainer`` it runs on),
(b) a plain loop that slices whole tensors, and (c) a plain ``DataLoader`` loop. Models: the
784-64-10 MLP on 60,000 x 784 random-but-learnable data, and a 3-layer CNN on 28x28 images.
Then an accuracy check: the 784-64-10 network on scikit-learn digits upsampled to 28x28.

    python benchmarks/trainer_overhead.py            # writes benchmarks/results/trainer_overhead.md
    python benchmarks/trainer_overhead.py --quick    # smaller data, writes trainer_overhead-quick.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, progress, write_result

PACKAGES = ("layerwise", "torch", "numpy")
SEED = 0


def learnable_data(
    n: int, shape: tuple[int, ...], classes: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian inputs labelled by a fixed random linear teacher: learnable, not trivially."""
    g = torch.Generator().manual_seed(SEED)
    x = torch.randn(n, *shape, generator=g)
    teacher = torch.randn(int(np.prod(shape)), classes, generator=g)
    y = (x.reshape(n, -1) @ teacher).argmax(dim=1)
    return x, y


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10),
    )


def plain_loop(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int
) -> list[float]:
    """The loop a PyTorch user writes: shuffle indices, slice, step."""
    torch.manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def dataloader_loop(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int
) -> list[float]:
    """The tutorial loop: TensorDataset + DataLoader(shuffle=True)."""
    torch.manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=True
    )
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def layerwise_loop(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int
) -> list[float]:
    """layerwise's engine with the same settings (constant lr, no validation, no early stopping)."""
    from layerwise.engine import Trainer, TrainerConfig

    config = TrainerConfig(
        epochs=epochs,
        batch_size=batch,
        lr=1e-3,
        optimizer="adam",
        schedule="constant",
        patience=None,
        progress=False,
        seed=SEED,
        device="cpu" if not torch.cuda.is_available() else "auto",
    )
    trainer = Trainer(model, nn.functional.cross_entropy, config)
    history = trainer.fit((x, y))
    return [record["seconds"] for record in history.records]


def nn_api_loop(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int
) -> list[float] | None:
    """``layerwise.nn``: Model.wrap + compile + fit, when that API exists."""
    try:
        from layerwise import nn as lw
    except ImportError:
        return None
    if not hasattr(lw, "Model"):
        return None
    wrapped = lw.Model.wrap(model)
    wrapped.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = wrapped.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
    return [record["seconds"] for record in history.records]


LOOPS: dict[str, Callable] = {
    "layerwise": layerwise_loop,
    "plain": plain_loop,
    "dataloader": dataloader_loop,
}


def speed_rows(quick: bool, rounds: int = 4) -> list[list[str]]:
    """Each contender trains once per round, in a rotated order, timed in process CPU seconds (all
    threads). On this shared VM even CPU time drifts by tens of percent between identical runs, so
    ratios are taken within a round (contenders run back to back) and the median ratio is shown."""
    rows = []
    cases = [
        ("MLP 784-64-10", mlp, (784,), 10_000 if quick else 60_000, 2),
        ("CNN 3 layers, 28x28", cnn, (1, 28, 28), 2_000 if quick else 10_000, 2),
    ]
    loops = {**LOOPS, "nn": nn_api_loop}
    for name, build, shape, n, epochs in cases:
        x, y = learnable_data(n, shape)
        per_round: list[dict[str, float]] = []
        for r in range(rounds):
            order = list(loops)[r % len(loops) :] + list(loops)[: r % len(loops)]
            measured: dict[str, float] = {}
            for loop_name in order:
                torch.manual_seed(SEED)
                model = build()
                start = time.process_time()
                if loops[loop_name](model, x, y, epochs, 128) is None:
                    continue
                measured[loop_name] = (time.process_time() - start) / epochs
            progress(
                f"{name} round {r + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in measured.items())
            )
            per_round.append(measured)

        def median(key: str, rounds: list = per_round) -> float:
            return statistics.median(m[key] for m in rounds)

        def ratio(a: str, b: str, rounds: list = per_round) -> float:
            return statistics.median(m[a] / m[b] for m in rounds)

        api = f"{median('nn'):.3f}" if all("nn" in m for m in per_round) else "-"
        rows.append(
            [
                name,
                f"{n:,}",
                f"{median('layerwise'):.3f}",
                api,
                f"{median('plain'):.3f}",
                f"{median('dataloader'):.3f}",
                f"{ratio('layerwise', 'plain'):.3f}",
                f"{ratio('layerwise', 'dataloader'):.3f}",
                f"{ratio('nn', 'plain'):.3f}" if api != "-" else "-",
            ]
        )
    return rows


def digits_784() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = nn.functional.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    x = images.reshape(len(images), 784)
    x_train, x_test, y_train, y_test = train_test_split(
        x, torch.tensor(digits.target), test_size=0.2, random_state=SEED, stratify=digits.target
    )
    return x_train, x_test, y_train, y_test


def accuracy_rows(quick: bool) -> list[list[str]]:
    x_train, x_test, y_train, y_test = digits_784()
    epochs = 5 if quick else 20
    rows = []
    for loop_name in ("layerwise", "plain"):
        torch.manual_seed(SEED)
        model = mlp()
        LOOPS[loop_name](model, x_train, y_train, epochs, 128)
        with torch.no_grad():
            accuracy = float((model.eval()(x_test).argmax(1) == y_test).float().mean())
        rows.append(
            [
                f"{loop_name} (Trainer)" if loop_name == "layerwise" else loop_name,
                str(epochs),
                f"{accuracy:.4f}",
            ]
        )
    rows.append(
        [
            "layerwise.nn Sequential (the issue's snippet)",
            str(epochs),
            f"{snippet_accuracy(epochs):.4f}",
        ]
    )
    return rows


def snippet_accuracy(epochs: int) -> float:
    """The seed's network exactly as users write it, on the same split."""
    from layerwise import nn as lw

    x_train, x_test, y_train, y_test = digits_784()
    torch.manual_seed(SEED)
    model = lw.Sequential([
        lw.Dense(64, activation="relu", input_shape=(784,)),
        lw.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train.numpy(), y_train.numpy(), epochs=epochs, batch_size=128, verbose=0)
    return float(model.evaluate(x_test.numpy(), y_test.numpy())[1])


def onnx_rows() -> list[list[str]]:
    """ONNX Runtime vs eager PyTorch, per sample, for the 784-64-10 MLP and the CNN."""
    import tempfile

    from layerwise.export.onnx import export_onnx, onnx_latency

    rows = []
    for name, build, shape in (
        ("MLP 784-64-10", mlp, (784,)),
        ("CNN 3 layers, 28x28", cnn, (1, 28, 28)),
    ):
        torch.manual_seed(SEED)
        model = build().eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(model, (torch.randn(2, *shape),), os.path.join(tmp, "m.onnx"))
            latency = onnx_latency(
                path, lambda n, shape=shape: (torch.randn(n, *shape).numpy(),), module=model
            )
        for batch, row in latency.items():
            rows.append(
                [
                    name,
                    str(batch),
                    f"{row['onnx_us_per_sample']:.1f}",
                    f"{row['eager_us_per_sample']:.1f}",
                    f"{row['eager_us_per_sample'] / row['onnx_us_per_sample']:.2f}",
                ]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, for a smoke test")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    speed = speed_rows(args.quick)
    accuracy = accuracy_rows(args.quick)
    onnx = onnx_rows()
    text = header("Training-engine overhead: layerwise vs hand-written PyTorch", PACKAGES) + "\n"
    text += f"torch threads: {torch.get_num_threads()} for every contender\n\n"
    text += "## Process CPU seconds per epoch (median of 4 rounds; ratios: median of within-round ratios), batch 128, Adam 1e-3\n\n"
    text += markdown_table(
        [
            "model",
            "rows",
            "layerwise Trainer",
            "layerwise.nn fit",
            "plain loop",
            "DataLoader loop",
            "layerwise / plain",
            "layerwise / DataLoader",
            "nn fit / plain",
        ],
        speed,
    )
    text += "\n\n## Accuracy check: 784-64-10 on scikit-learn digits upsampled to 28x28 (20% held out)\n\n"
    text += markdown_table(["trained by", "epochs", "test accuracy"], accuracy) + "\n"
    text += (
        "\n## Inference: ONNX Runtime vs eager PyTorch, microseconds per sample (median of 20)\n\n"
    )
    text += (
        markdown_table(["model", "batch", "ONNX Runtime", "eager PyTorch", "eager / ONNX"], onnx)
        + "\n"
    )
    print(text)
    progress(f"written {write_result('trainer_overhead', text, quick=args.quick)}")


if __name__ == "__main__":
    main()
