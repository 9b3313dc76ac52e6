"""layerwise generate RUN [--prompt TEXT] [--max-tokens N] [--temperature T] [--top-k K]"""

from __future__ import annotations

from typing import Optional

import typer


def generate(
    run_dir: str = typer.Argument(..., help="A language-generation run folder."),
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
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same text."),
) -> None:
    """Continue a prompt with a trained text generator, streaming the text as it is sampled."""
    import sys

    from layerwise.api import load
    from layerwise.cli.common import err
    from layerwise.errors import ConfigError

    task = load(run_dir)
    if task.name != "language-generation":
        raise ConfigError(
            f"generate works on language-generation runs; this run is {task.name}.",
            "Use `layerwise predict` for it.",
        )
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
