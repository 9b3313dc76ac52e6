"""Report sections for image-generation runs: sample grids as the deep model trained, each model's
samples beside real images, and the quality curves (distance and class accuracy per epoch,
with the pixel model's distance and real images' distance drawn as reference lines)."""

from __future__ import annotations

import base64
import html
import json

import pandas as pd

from layerwise.runs import plots
from layerwise.runs.folder import RunFolder
from layerwise.tasks.image_generation.outputs import SAMPLES  # the names it writes


def _index(run: RunFolder) -> dict | None:
    if not run.exists(SAMPLES):
        return None
    data = json.loads(run.read_text(SAMPLES))
    return data if isinstance(data, dict) else None


def _png(run: RunFolder, name: str, alt: str) -> str:
    if not name or not run.exists(name):
        return ""
    return plots.img_tag(base64.b64encode(run.file(name).read_bytes()).decode("ascii"), alt)


def _rows_note(index: dict) -> str:
    classes = index.get("classes") or []
    if not classes:
        return ""
    shown = ", ".join(html.escape(str(c)) for c in classes)
    return f'<p class="note">Each row asks for one class, top to bottom: {shown}.</p>'


def training_grids(run: RunFolder) -> str | None:
    """The grids sampled from the same noise at moments of training, oldest first."""
    index = _index(run)
    during = (index or {}).get("during_training") or []
    if not during:
        return None
    cells = []
    for g in during:
        fd = g.get("fd")
        caption = f"epoch {g['epoch']}, {g['seconds']} s" + ("" if fd is None else f", FD {fd:.2f}")
        cells.append(f"<figure style='display:inline-block;width:31%;margin:0 1%'>"
                     f"{_png(run, g['file'], caption)}<figcaption class=note>"
                     f"{html.escape(caption)}</figcaption></figure>")  # fmt: skip
    which = {"gan": "the GAN's averaged generator", "vae": "the VAE's decoder"}.get(
        index.get("model"), "the generator"
    )
    return (_rows_note(index) + f'<p class="note">Samples of {which}, from the same noise every '
            "time: they sharpen as it learns.</p>" + "".join(cells))  # fmt: skip


def final_grids(run: RunFolder) -> str | None:
    """Real test images, then each candidate's samples, with their test distances."""
    index = _index(run)
    final = (index or {}).get("final") or {}
    if not final:
        return None
    metrics = json.loads(run.read_text("metrics.json")) if run.exists("metrics.json") else {}
    candidates = metrics.get("candidates", {})
    cells = []
    for name, file in final.items():
        test = (candidates.get(name) or {}).get("test") or {}
        caption = "real images" if name == "real" else f"{name}: test FD {test.get('fd', 0):.2f}"
        if test.get("class_accuracy") is not None:
            caption += f", {test['class_accuracy']:.0%} judged as asked"
        if name == metrics.get("chosen"):
            caption += " (served)"
        cells.append(f"<figure style='display:inline-block;width:31%;margin:0 1%'>"
                     f"{_png(run, file, caption)}<figcaption class=note>{html.escape(caption)}"
                     "</figcaption></figure>")  # fmt: skip
    return _rows_note(index) + "".join(cells)


def quality_curves(run: RunFolder) -> str | None:
    """The deep model's validation distance and class accuracy per epoch, with reference lines
    (and its losses: the GAN's hinge losses or the VAE's reconstruction and KL terms)."""
    if not run.exists("history.csv"):
        return None
    history = pd.read_csv(run.file("history.csv"))
    if "val_fd" not in history or history["val_fd"].isna().all():
        return None
    metrics = json.loads(run.read_text("metrics.json")) if run.exists("metrics.json") else {}
    gmm = ((metrics.get("candidates") or {}).get("gmm") or {}).get("validation") or {}
    floor = (metrics.get("floor") or {}).get("val")
    panels = [("val_fd", "Fréchet distance to validation images (lower is better)")]
    if "val_class_accuracy" in history:
        panels.append(("val_class_accuracy", "Judge's accuracy on the asked class"))
    gan = "train_d_loss" in history
    pairs = (("train_loss", "generator"), ("train_d_loss", "discriminator")) if gan else (
        ("train_recon", "reconstruction"), ("train_kl", "KL"))  # fmt: skip
    losses = [(c, label) for c, label in pairs if c in history]
    fig, axes = plots._figure(4.6 * (len(panels) + bool(losses)), 3.4,
                              ncols=len(panels) + bool(losses))  # fmt: skip
    epoch = history["epoch"]
    for ax, (column, title) in zip(axes, panels, strict=False):
        ax.plot(epoch, history[column], color=plots.BLUE, label="GAN" if gan else "VAE")
        reference = {"val_fd": ("fd", floor), "val_class_accuracy": ("class_accuracy", None)}
        key, real = reference[column]
        if gmm.get(key) is not None:
            ax.axhline(gmm[key], color=plots.ORANGE, linestyle="--", label="pixel mixtures (gmm)")
        if real is not None:
            ax.axhline(real, color=plots.GREY, linestyle=":", label="real images")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    if losses:
        ax = axes[len(panels)]
        for (column, label), colour in zip(losses, (plots.BLUE, plots.ORANGE), strict=False):
            ax.plot(epoch, history[column], color=colour, label=label)
        ax.set_title("Hinge losses" if gan else "Negative ELBO terms (nats an image)", fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    return plots.img_tag(plots._encode(fig), "quality curves")


# The sections this application adds to report.html, in page order (Task.report_sections).
SECTIONS = [
    ("Generated beside real images", final_grids),
    ("Samples as the deep model trained", training_grids),
    ("Quality during training", quality_curves),
]
