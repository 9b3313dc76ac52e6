"""language-generation: a small GPT trained on the user's text, beside an n-gram model.

The text is tokenised (characters by default, or byte-level BPE), its last 10% held out for
validation. The classical baseline, a Kneser-Ney n-gram model with its order chosen on
validation, and a decoder-only Transformer trained by the engine against the clock are both
scored by their loss on the whole validation split (nats per token; perplexity and nats per
character beside it), and the lower loss is served. Generation streams tokens as they are
sampled (temperature, top-k, top-p), deterministic for a seed, with a KV cache.

Under ``--devices N`` or torchrun the GPT trains data-parallel on every process (its learning
rate and its stop on the first process's clock); the tokenizer, the n-gram model, the samples
and the run folder are the first process's (see :mod:`.fit`).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.task import RUN_DEFAULTS, Run, Task
from layerwise.errors import ConfigError, DataError
from layerwise.runs.folder import RunFolder

DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,  # candidates: "gpt", "ngram"; time_limit: the GPT's (None: 300 s on a CPU)
    "tokenizer": "char",  # or "bpe"
    "size": "tiny",  # tiny | small | base
    "val_fraction": 0.1,
    "prompt": "\n",  # where the samples shown during training start
    "max_tokens": 200,  # predict(): tokens generated per prompt
    "temperature": 0.8,
    "top_k": 40,
    "top_p": None,
    "unknown": "map",  # characters outside a char vocabulary in a prompt: map | skip | error
    # A text file tokenised once to disk and trained on from there (data larger than memory):
    # True, False, or None to stream when its text and ids would take over a quarter of memory
    "stream": None,
}


class LanguageGeneration(Task):
    """Generate text like the training text.

    >>> LanguageGeneration(tokenizer="bpe").option("tokenizer")
    'bpe'
    """

    name: ClassVar[str] = "language-generation"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    description: ClassVar[str] = "Generate text: a small GPT vs an n-gram model"
    request_kind: ClassVar[str | None] = "prompts"  # served: see layerwise.serve.requests
    data_parallel: ClassVar[bool] = True  # the GPT under DDP; the n-gram model on rank 0

    def training_summary(self, run: Run) -> list[Any]:
        from layerwise.tasks.language_generation.cli import training_summary

        return training_summary(run)

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.language_generation.cli import python_docs

        return python_docs(folder)

    def __init__(self, **options: Any):
        self._check_options(options)
        super().__init__(**options)
        self.tokenizer: Any = None
        self.model: Any = None  # the served generator: a GPT module or an NGramLM
        self.chosen: str | None = None
        self.target = None  # config.yaml's field

    def _check_options(self, options: dict[str, Any]) -> None:
        self.check_option_names(options)
        if options.get("tokenizer", "char") not in ("char", "bpe"):
            raise ConfigError(
                f"--tokenizer {options['tokenizer']!r} is not valid.", "Use char or bpe."
            )

    def fit(self, data: Any, target: str | None = None, **options: Any) -> Run:
        """Read the text, train the n-gram model and the GPT, choose, write the run folder. In
        a world of several processes every rank trains the GPT together and rank 0 alone the
        rest; the other ranks return None."""
        from layerwise.tasks.language_generation.fit import fit_language

        self._check_options(options)
        self.options = {**self.options, **options}
        return fit_language(self, data, time.perf_counter())

    # ---- generate ----------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.model is None:
            raise DataError(
                "This text generator is not fitted.", "Call fit() or load a run folder."
            )

    def encode_prompt(self, prompt: str) -> tuple[np.ndarray, list[str]]:
        """The prompt's token ids and notes (characters mapped or skipped)."""
        from layerwise.tasks.language_generation.fit import encode_prompt

        return encode_prompt(self, prompt)

    def generate(
        self, prompt: str = "\n", max_tokens: int | None = None, temperature: float | None = None,
        top_k: int | None = None, top_p: float | None = None, seed: int = 0, on_text: Any = None,
    ) -> str:  # fmt: skip
        """The prompt and its continuation; ``on_text(piece)`` receives each new token's text
        as soon as it is sampled (for streaming). Beyond the model's context the window
        slides. Deterministic for a seed."""
        from layerwise.tasks.language_generation.fit import generate

        self._require_fitted()
        settings = {
            "max_tokens": self.option("max_tokens") if max_tokens is None else max_tokens,
            "temperature": self.option("temperature") if temperature is None else temperature,
            "top_k": self.option("top_k") if top_k is None else top_k,
            "top_p": self.option("top_p") if top_p is None else top_p,
        }
        return generate(self, prompt, settings, seed, on_text)

    def predict(self, inputs: Any) -> pd.DataFrame:
        """One row per prompt (a string, a list of them, or a table with a ``prompt``
        column): ``prompt`` and ``text`` (prompt + continuation, seed 0)."""
        prompts = _prompts(inputs)
        texts = [self.generate(p, seed=0) for p in prompts]
        return pd.DataFrame({"prompt": prompts, "text": texts})

    def prediction_rows(self, inputs: Any) -> int:
        return len(_prompts(inputs))

    def evaluate(self, data: Any) -> dict[str, Any]:
        """The served model's loss on a text: nats per token, perplexity, nats per character."""
        from layerwise.tasks.language_generation.fit import text_loss

        self._require_fitted()
        return text_loss(self, data)

    # ---- schema, load, contract ------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        vocab = None if self.tokenizer is None else self.tokenizer.vocab_size
        return {"kind": "text-prompt", "tokenizer": self.option("tokenizer"), "vocab_size": vocab}

    def output_schema(self) -> dict[str, Any]:
        return {"kind": "generated-text", "fields": {
            "prompt": "str: the prompt given", "text": "str: the prompt and its continuation"}}  # fmt: skip

    @classmethod
    def load(cls, run: RunFolder) -> LanguageGeneration:
        from layerwise.tasks.language_generation.fit import restore

        return restore(cls, run)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.language_generation.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        rng = np.random.default_rng(seed)
        words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"]
        text = "\n".join(" ".join(rng.choice(words, 8)) + "." for _ in range(300))
        options = {"time_limit": 3, "max_tokens": 20,
                   "candidate_params": {"gpt": {"epochs": 2, "steps_per_epoch": 10}}}  # fmt: skip
        return text, options, ["the cat", "a dog"]


def _prompts(inputs: Any) -> list[str]:
    if isinstance(inputs, str):
        return [inputs]
    if isinstance(inputs, pd.DataFrame):
        if "prompt" not in inputs.columns:
            from layerwise.errors import missing_column

            raise missing_column("prompt", inputs.columns, "Prompt column")
        return [str(p) for p in inputs["prompt"]]
    return [str(p) for p in inputs]
