"""GPU check: the engine's models trained for a few hundred steps on CUDA (bf16 autocast,
channels_last for the convnets), their throughput and peak memory; the CNN again through
DistributedDataParallel in a world of one process (the ``--devices 1`` path); a run folder
trained on the GPU, predicted on a CPU-only process and exported to ONNX.

    python benchmarks/gpu.py                 # on a machine with a GPU: results/gpu.md
    python benchmarks/gpu.py --cpu --steps 3 # the CPU fallback the test suite runs (no file)

CI has no GPU: the suite runs the CPU fallback so that this script does not rot; run it
whenever a GPU is lent and commit ``results/gpu.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, progress, write_result

PACKAGES = ("layerwise", "torch", "numpy", "onnxruntime")


def _tensors(n: int, seed: int, *shapes: tuple[tuple[int, ...], Any]) -> tuple:
    g = torch.Generator().manual_seed(seed)
    out = []
    for shape, kind in shapes:
        if isinstance(kind, int):  # integers below kind
            out.append(torch.randint(0, kind, (n, *shape), generator=g))
        else:
            out.append(torch.rand((n, *shape), generator=g))
    return tuple(out)


def image_cnn(n: int) -> tuple[torch.nn.Module, Callable, tuple, int, bool]:
    from layerwise.models.resnet import ResNet, resnet_config_for

    model = ResNet(resnet_config_for(3, 10, 32, 32))
    data = _tensors(n, 0, ((3, 32, 32), float), ((), 10))
    return model, torch.nn.functional.cross_entropy, data, 1, True


def unet(n: int) -> tuple:
    from layerwise.models.unet import UNet, unet_config_for

    model = UNet(unet_config_for(128, 30, 2, in_channels=1))
    data = _tensors(n, 1, ((1, 128, 128), float), ((128, 128), 2))
    return model, torch.nn.functional.cross_entropy, data, 1, True


def tabular_mlp(n: int) -> tuple:
    from layerwise.models.tabular_mlp import TabularMLP, TabularMLPConfig

    model = TabularMLP(TabularMLPConfig(n_numeric=32, cardinalities=[12], n_outputs=2))
    data = _tensors(n, 2, ((32,), float), ((1,), 12), ((), 2))
    return model, torch.nn.functional.cross_entropy, data, 1, False


def _token_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), target.flatten())


def seq2seq(n: int) -> tuple:
    from layerwise.models.seq2seq import Seq2Seq, Seq2SeqConfig

    model = Seq2Seq(Seq2SeqConfig(vocab_size=4000, dim=256, heads=4, encoder_layers=3,
                                  decoder_layers=3, max_source_len=64, max_target_len=64))  # fmt: skip
    data = _tensors(n, 3, ((32,), 4000), ((32,), 4000), ((32,), 4000))
    return model, _token_loss, data, 64, False  # source and target tokens per pair


def gpt(n: int) -> tuple:
    from layerwise.models.gpt import GPT, GPTConfig

    model = GPT(GPTConfig(vocab_size=4000, block_size=128, dim=256, layers=4, heads=4))
    data = _tensors(n, 4, ((128,), 4000), ((128,), 4000))
    return model, _token_loss, data, 128, False


MODELS = {  # name: (builder, unit per example)
    "image CNN (ResNet, 32x32 RGB)": (image_cnn, "images"),
    "U-Net (128x128 grey)": (unet, "images"),
    "tabular MLP (32 numeric + 1 categorical)": (tabular_mlp, "rows"),
    "Transformer seq2seq (dim 256, 3+3)": (seq2seq, "tokens"),
    "GPT (dim 256, 4 layers, block 128)": (gpt, "tokens"),
}


def train_once(name: str, device: str, steps: int, batch: int) -> dict[str, Any]:
    """``steps`` engine steps of model ``name`` on ``device``: examples (or tokens) a second
    after a warm-up epoch, and the peak GPU memory."""
    from layerwise.engine import Trainer, TrainerConfig

    build, unit = MODELS[name]
    torch.manual_seed(0)
    model, loss, data, per_example, convnet = build(steps * batch)
    config = TrainerConfig(epochs=1, batch_size=batch, device=device, progress=False,
                           patience=None, channels_last=convnet and device != "cpu",
                           schedule="constant")  # fmt: skip
    warm = Trainer(model, loss, config)
    warm.fit(tuple(t[: 2 * batch] for t in data))  # kernels chosen, memory pools grown
    cuda = warm.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    trainer = Trainer(warm.model, loss, config)
    started = time.perf_counter()
    trainer.fit(data)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"check": name, "device": str(trainer.device),
            "precision": str(trainer.amp_dtype or "float32").replace("torch.", ""),
            "steps": steps, "batch": batch, "per_second": steps * batch * per_example / seconds,
            "unit": f"{unit}/s", "seconds": seconds,
            "peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None}  # fmt: skip


def _in_world(out: str, device: str, steps: int, batch: int) -> None:
    """A rank of a world of one (torchrun's environment): the CNN through DDP."""
    row = train_once("image CNN (ResNet, 32x32 RGB)", device, steps, batch)
    from layerwise.engine.distributed import current_world

    row["check"] = f"image CNN through DDP (world of {current_world().size})"
    Path(out).write_text(json.dumps(row))


def through_ddp(device: str, steps: int, batch: int) -> dict[str, Any]:
    from layerwise.engine.distributed import run_local

    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "row.json")
        run_local(1, _in_world, out, device, steps, batch)
        return json.loads(Path(out).read_text())


def run_folder_on_cpu(device: str, epochs: int) -> dict[str, Any]:
    """A tabular run whose MLP trained on ``device``: predicted again in a process that sees no
    GPU (the predictions must agree) and exported to ONNX (verified by ONNX Runtime)."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    import layerwise

    table = load_breast_cancer(as_frame=True).frame
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "cancer.csv"
        table.to_csv(data, index=False)
        run = layerwise.fit(str(data), target="target", output_dir=folder, verbose=False,
                            report=False, candidates=["mlp"], device=device, bag=False,
                            candidate_params={"mlp": {"epochs": epochs}})  # fmt: skip
        here = run.task.predict(table.drop(columns="target"))
        out = Path(folder) / "cpu.csv"
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        layerwise_cli = [sys.executable, "-m", "layerwise"]
        subprocess.run([*layerwise_cli, "predict", str(run.path), str(data), "-o", str(out)],
                       check=True, env=env, capture_output=True)  # fmt: skip
        there = pd.read_csv(out)
        column = next(c for c in here.columns if c.startswith("probability"))
        gap = float(np.max(np.abs(here[column].to_numpy() - there[column].to_numpy())))
        from layerwise.errors import LayerwiseError
        from layerwise.export.onnx import export_run

        try:  # export_run verifies the file against PyTorch with ONNX Runtime
            export_run(run.path, format="onnx")
            exported = "verified"
        except LayerwiseError as error:
            exported = error.one_line()[:120]
        return {"check": "run folder trained here, predicted on a CPU-only process",
                "device": device, "largest probability gap": gap, "onnx export": exported}  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="the CPU fallback (no results file)")
    parser.add_argument("--steps", type=int, default=300, help="training steps a model")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.cpu
    device = "cuda" if cuda else "cpu"
    if not cuda and not args.cpu:
        progress("no GPU here: the CPU fallback (give --cpu to say so)")
    rows = []
    for name in MODELS:
        rows.append(train_once(name, device, args.steps, args.batch))
        progress(f"{name}: {rows[-1]['per_second']:,.0f} {rows[-1]['unit']}")
    rows.append(through_ddp(device, args.steps, args.batch))
    folder = run_folder_on_cpu(device, epochs=3 if args.cpu else 20)
    progress(f"run folder: {folder}")
    head = ["check", "device", "precision", "steps x batch", "throughput", "peak GPU MiB"]
    cells = [[r["check"], r["device"], r["precision"], f"{r['steps']} x {r['batch']}",
              f"{r['per_second']:,.0f} {r['unit']}",
              "—" if r["peak_mib"] is None else f"{r['peak_mib']:,.0f}"] for r in rows]  # fmt: skip
    text = header("GPU check: the engine's models on CUDA", PACKAGES) + "\n"
    text += markdown_table(head, cells) + "\n\n"
    text += (f"A tabular run trained on {folder['device']}, predicted again in a process without "
             f"a GPU: largest probability gap {folder['largest probability gap']:.2e}; ONNX "
             f"export: {folder['onnx export']}.\n")  # fmt: skip
    print(text)
    if cuda:
        progress(f"wrote {write_result('gpu', text)}")
    return [*rows, folder]


if __name__ == "__main__":
    main()
