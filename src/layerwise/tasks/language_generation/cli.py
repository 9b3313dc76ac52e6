"""What language generation adds to the ``layerwise`` command: its ``train`` options, its demo
and the lines printed after training. Read at the command's start-up: nothing heavy at the top
(see core.cli_spec)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

COMMAND_LINE = CommandLine(
    panel="Language generation",
    train_options=(
        TrainOption("--tokenizer", "tokenizer", str, "Language generation: char or bpe [char]."),
        TrainOption("--size", "size", str,
                    "Language generation: the GPT's size, tiny, small or base [tiny]."),
        TrainOption("--stream/--no-stream", "stream", bool,
                    "Tokenise the text file once to disk and train from there (data larger "
                    "than memory) [when over a quarter of the memory]."),
    ),
)  # fmt: skip


def python_docs(folder: Path) -> Demo:
    """The demo: Python's reference documentation, bundled with Python."""
    import pydoc_data.topics

    from layerwise.io import atomic_write

    topics = pydoc_data.topics.topics
    text = "\n\n".join(topics[name] for name in sorted(topics))
    path = folder / "python_docs.txt"
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return Demo(path, None,
                f"Python's reference documentation ({len(text):,} characters, bundled with Python)",
                options={"time_limit": 60, "prompt": "The "})  # a minute: enough to see it learn  # fmt: skip


def training_summary(run: Any) -> list[Any]:
    """Both models' validation loss, a sample from the served one, and the next command."""
    from rich.text import Text

    metrics = run.metrics
    lines: list[Any] = []
    for name, entry in metrics["candidates"].items():
        v = entry["validation"]
        mark = " *" if name == metrics["chosen"] else ""
        lines.append(f"{name + mark:<8} validation loss {v['loss']:.4f} nats/token, "
                     f"perplexity {v['perplexity']:.2f} (fit {entry['fit_seconds']:.0f} s)")  # fmt: skip
    prompt = run.task.option("prompt")
    sample = run.task.generate(prompt, max_tokens=300, seed=0)
    return [*lines, Text(f"Sample (prompt {prompt!r}, 300 tokens, seed 0):"), Text(sample),
            f"Run folder: {run.path}", "Next:",
            Text(f"  layerwise generate {run.path} --prompt {prompt!r} --max-tokens 500")]  # fmt: skip
