"""layerwise generate RUN: text from a language-generation run ([--prompt TEXT]
[--max-tokens N] [--temperature T] [--top-k K]), or a grid of images from an image-generation
run ([--n N] [--label CLASS] [-o samples.png])."""

from __future__ import annotations

from typing import Optional

import typer


def generate(
    run_dir: str = typer.Argument(..., help="A language- or image-generation run folder."),
    prompt: str = typer.Option("\n", "--prompt", "-p", help="Text to continue [a new line]."),
    max_tokens: Optional[int] = typer.Option(
        None, "--max-tokens", help="Tokens to generate [the run's, 200]; the window slides."
    ),
    temperature: Optional[float] = typer.Option(
        None, "--temperature", help="Sampling temperature; 0 = always the likeliest [0.8]."
    ),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Sample among the k likeliest [40]."),
    top_p: Optional[float] = typer.Option(
        None, "--top-p", help="Sample among the likeliest tokens holding this probability."
    ),
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same output."),
    n: int = typer.Option(64, "--n", help="Images: how many to generate [64]."),
    label: Optional[str] = typer.Option(
        None, "--label", help="Images: the class to generate [each class in turn]."
    ),
    output: str = typer.Option("samples.png", "--output", "-o", help="Images: the grid's PNG."),
) -> None:
    """Continue a prompt (text runs, streamed as it is sampled) or draw images (image runs)."""
    import sys

    from layerwise.api import load
    from layerwise.cli.common import err, tasks_that
    from layerwise.core.capabilities import GeneratesImages, GeneratesText
    from layerwise.errors import ConfigError

    task = load(run_dir)
    if isinstance(task, GeneratesImages):
        _images(task, n, label, output, seed)
        return
    if not isinstance(task, GeneratesText):
        generators = tasks_that(
            lambda cls: issubclass(cls, (GeneratesText, GeneratesImages)), word="and"
        )
        raise ConfigError(f"generate works on {generators} runs; this run is {task.name}.",
                          "Use `layerwise predict` for it.")  # fmt: skip
    if max_tokens is not None and max_tokens < 0:  # before any text is written
        raise ConfigError(f"--max-tokens {max_tokens} is not valid.", "Ask for 0 or more tokens.")
    _, notes = task.encode_prompt(prompt)
    for note in notes:
        err.print(f"note: {note}")
    sys.stdout.write(prompt)

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    task.generate(prompt, max_tokens, temperature, top_k, top_p, seed, on_text=stream)
    sys.stdout.write("\n")


def _images(task, n: int, label: str | None, output: str, seed: int) -> None:
    from pathlib import Path

    from layerwise.cli.common import out
    from layerwise.errors import ConfigError
    from layerwise.runs.image_grid import save_grid

    path = Path(output)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"-o {output} is not a .png file.", "Name the grid's file *.png.")
    images, codes = task.generate(n, label, seed=seed)
    columns = None
    if codes is not None and label is None:  # every class in turn: one class per column
        columns = min(len(task.classes), n)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_grid(path, images, columns)
    what = f" of class {label!r}" if label is not None else ""
    side = f"{task.side}x{task.side}"
    out.print(f"Wrote {n} generated images{what} ({side}, {task.chosen}) to {path}", soft_wrap=True)
