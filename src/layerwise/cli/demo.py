"""layerwise demo [TASK]: the main job on bundled data, no files and no network needed."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    task: str = typer.Argument("tabular-classification", help="Which application to demonstrate."),
    output_dir: str = typer.Option("runs", "--output-dir", "-o"),
) -> None:
    """Train on bundled data (breast cancer for tables), print the ML-vs-DL table and the report."""
    from layerwise.cli.common import out, print_run_summary
    from layerwise.errors import ConfigError

    demos = {
        "tabular-classification": _breast_cancer,
        "tabular-regression": _diabetes,
        "image-classification": _digit_images,
        "text-classification": _reviews,
        "forecasting": _co2,
        "anomaly-detection": _transactions,
        "speech-recognition": _spoken_words,
        "recommendation": _ratings_log,
        "language-generation": _python_docs,
        "image-generation": _digit_images,
        "reinforcement-learning": _cartpole,
    }
    if task not in demos:
        raise ConfigError(f"No demo for '{task}'.", f"Demos: {', '.join(demos)}.")
    data_path, target, title = demos[task](Path(output_dir) / "demo-data")
    out.rule(f"layerwise demo: {title}")
    out.print(f"Data: {data_path}" + (f" (target '{target}')" if target else ""))
    from layerwise.api import fit

    options = {"text_column": "review"} if task == "text-classification" else {}
    if task == "speech-recognition":  # the demo's voices are synthetic already
        options["synthetic_per_word"] = 0
    if task == "language-generation":  # a minute is enough to see it learn to write
        options.update(time_limit=60, prompt="The ")
    if task == "reinforcement-learning":  # PPO balances the pole within ~20k steps
        options["steps"] = 50_000
    run = fit(str(data_path), task=task, target=target, output_dir=output_dir, **options)
    if task == "reinforcement-learning":
        from layerwise.cli.common import print_agent_summary

        print_agent_summary(run)
        return
    if task == "image-generation":
        from layerwise.cli.common import print_image_generation_summary

        print_image_generation_summary(run)
        return
    if task == "recommendation":
        from layerwise.cli.common import print_recommend_summary

        print_recommend_summary(run)
        return
    if task == "language-generation":
        from layerwise.cli.common import print_generation_summary

        print_generation_summary(run)
        return
    hint = '"the plot was not dull"' if task == "text-classification" else str(data_path)
    if task == "speech-recognition":
        hint = str(next(p for p in sorted(data_path.rglob("*.wav"))))
    print_run_summary(run, data_hint=hint, labelled_hint=str(data_path))
    if task == "speech-recognition":
        out.print(f"  layerwise predict {run.path} {hint} --transcribe", soft_wrap=True)
    if task == "image-classification":
        out.print(f"  layerwise explain {run.path} {_first_image(data_path)}", soft_wrap=True)


def _write(frame, folder: Path, name: str) -> Path:
    from layerwise.runs.folder import atomic_write

    path = folder / name
    atomic_write(path, lambda p: frame.to_csv(p, index=False))
    return path


def _breast_cancer(folder: Path) -> tuple[Path, str, str]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "diagnosis"})
    frame["diagnosis"] = frame["diagnosis"].map({0: "malignant", 1: "benign"})
    return (
        _write(frame, folder, "breast_cancer.csv"),
        "diagnosis",
        "breast cancer diagnosis (569 tumours, 30 measurements)",
    )


def _diabetes(folder: Path) -> tuple[Path, str, str]:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns={"target": "progression"}
    )
    return (
        _write(frame, folder, "diabetes.csv"),
        "progression",
        "diabetes progression (442 patients, 10 measurements)",
    )


def _digit_images(folder: Path) -> tuple[Path, None, str]:
    import shutil

    from layerwise.data.image_sources import digits, write_folder

    path = folder / "digits"
    if not path.is_dir():  # written beside, then renamed: an interrupted demo leaves no half folder
        partial = folder / ".digits-partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_folder(digits(), partial)
        partial.rename(path)
    return path, None, "handwritten digits (1,797 8x8 images in digits/<class>/*.png)"


def _first_image(folder: Path) -> Path:
    return next(p for p in sorted(folder.rglob("*.png")))


def _reviews(folder: Path) -> tuple[Path, str, str]:
    import pandas as pd

    from layerwise.tasks.text_classification.sources import reviews

    data = reviews(3000, seed=0)
    frame = pd.DataFrame(
        {"review": data.texts, "sentiment": [data.classes[i] for i in data.labels]}
    )
    return (
        _write(frame, folder, "reviews.csv"),
        "sentiment",
        "review sentiment (3,000 generated sentences, some negated)",
    )


def _co2(folder: Path) -> tuple[Path, None, str]:
    from layerwise.tasks.forecasting.sources import statsmodels_series

    frame = statsmodels_series("co2").to_frame()
    return (
        _write(frame, folder, "co2.csv"),
        None,
        "weekly CO2 at Mauna Loa 1958-2001 (statsmodels), forecast one year ahead",
    )


def _transactions(folder: Path) -> tuple[Path, str, str]:
    import numpy as np

    from layerwise.tasks.anomaly_detection.sources import transactions

    frame = transactions(8000, fraud_rate=0.015, seed=0).rename(columns={"is_anomaly": "is_fraud"})
    hidden = np.random.default_rng(0).random(len(frame)) > 0.3  # 70% of rows never checked
    frame["is_fraud"] = frame["is_fraud"].astype("Int64").mask(hidden)
    return (
        _write(frame, folder, "transactions.csv"),
        "is_fraud",
        "card payments (8,000 generated, 1.5% fraud, 30% of them labelled)",
    )


def _spoken_words(folder: Path) -> tuple[Path, None, str]:
    from layerwise.tasks.speech_recognition.sources import DEMO_WORDS, synthetic_commands

    per_word = 60
    path = synthetic_commands(folder / "commands", DEMO_WORDS, per_word)
    return (
        path,
        None,
        f"spoken commands ({len(DEMO_WORDS)} words x {per_word} clips voiced by espeak-ng in "
        "many voices, commands/<word>/*.wav)",
    )


def _ratings_log(folder: Path) -> tuple[Path, None, str]:
    from layerwise.tasks.recommendation.sources import latent_log, write_movielens

    users, items = 600, 1000
    frame = latent_log(n_users=users, n_items=items, mean_per_user=60, seed=0)
    path = write_movielens(frame, folder / "ratings" / "u.data")
    return (
        path,
        None,
        f"movie ratings ({len(frame):,} generated ratings of {items:,} items by {users} users "
        "with tastes, series and drifting interests, in MovieLens u.data format)",
    )


def _python_docs(folder: Path) -> tuple[Path, None, str]:
    import pydoc_data.topics

    from layerwise.runs.folder import atomic_write

    topics = pydoc_data.topics.topics
    text = "\n\n".join(topics[name] for name in sorted(topics))
    path = folder / "python_docs.txt"
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return (
        path,
        None,
        f"Python's reference documentation ({len(text):,} characters, bundled with Python)",
    )


def _cartpole(folder: Path) -> tuple[str, None, str]:
    return "CartPole-v1", None, "CartPole-v1 (Gymnasium): balance a pole on a moving cart"
