"""text-to-text: translation and chatbot replies, learnt from the user's sentence pairs.

A user brings pairs (a phrase book, a translation memory, questions with the answers that
answered them: :mod:`.pairs` reads tab-separated lines, tables and parallel files). They are
split by distinct source sentence, so no test source is ever seen in training. A Transformer
encoder-decoder trained by the engine (:mod:`.transformer_train`) competes with the way
computer-assisted translation and retrieval chatbots work without deep learning, a translation
memory that answers the target of the most similar training source (:mod:`.memory`). Both are
scored with sacreBLEU (:mod:`.scores`); the better validation BLEU is served, the memory unless
the Transformer beats it by ``BLEU_TOLERANCE``.

Predictions are one row per input: ``input`` and ``output`` (and, from the memory, the
``similarity`` of the training source it answered from).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from layerwise.core.task import RUN_DEFAULTS, Run, Task
from layerwise.errors import ConfigError, DataError
from layerwise.runs.folder import RunFolder

DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,  # candidates: transformer, translation-memory; time_limit: the Transformer's
    "source_column": None,  # a table of pairs: its columns (None: its two text columns)
    "target_column": None,
    "pair_files": None,  # parallel files: {"en": "train.en", "fr": "train.fr"} (source first)
    "reverse": False,  # train the other direction from the same file
    "val_fraction": 0.05,
    "test_fraction": 0.05,
    "beam": None,  # decoding: None chooses between greedy and beam 4 on validation
    "max_tokens": None,  # predict(): the longest output in tokens (None: by the input's length)
}


class TextToText(Task):
    """Write a target text for each source text: a Transformer beside a translation memory.

    >>> TextToText(reverse=True).option("reverse")
    True
    """

    name: ClassVar[str] = "text-to-text"
    description: ClassVar[str] = "Translate or reply: a text for every text"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    request_kind: ClassVar[str | None] = "texts"  # served: see layerwise.serve.requests
    data_parallel: ClassVar[bool] = True  # the Transformer under DDP; the memory on rank 0
    predict_options: ClassVar[tuple[str, ...]] = ("beam", "max_tokens")

    def __init__(self, **options: Any):
        self.check_option_names(options)
        super().__init__(**options)
        self.model: Any = None  # the served model: TransformerTranslator or TranslationMemory
        self.chosen: str | None = None
        self.target = None  # config.yaml's field: the pairs carry their own targets

    def training_summary(self, run: Run) -> list[Any]:
        from layerwise.tasks.text_to_text.cli import training_summary

        return training_summary(run)

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.text_to_text.cli import pairs_demo

        return pairs_demo(folder)

    def fit(self, data: Any = None, target: str | None = None, **options: Any) -> Run:
        """Read the pairs, train both models, choose by validation BLEU, write the run."""
        from layerwise.tasks.text_to_text.fit import fit_text_to_text

        self.check_option_names(options)
        self.options = {**self.options, **options}
        return fit_text_to_text(self, data, time.perf_counter())

    def read_pairs(self, data: Any) -> Any:
        """The pairs of ``data`` (a PairSet, a file) or of the ``pair_files`` option."""
        from layerwise.tasks.text_to_text import pairs

        reverse = bool(self.option("reverse"))
        if isinstance(data, pairs.PairSet):
            return pairs.PairSet(data.targets, data.sources, list(data.notes)) if reverse else data
        files = self.option("pair_files")
        if files:
            if data is not None:
                raise ConfigError("Both DATA and pair_files were given.",
                                  "Give one: a file of pairs, or two parallel files.")  # fmt: skip
            source, target = _two_files(files)
            return pairs.read_parallel(source, target, reverse=reverse)
        if data is None:
            raise ConfigError("No pairs were given.", "Give a file of pairs, or pair_files.")
        return pairs.read_pairs(data, self.option("source_column"), self.option("target_column"),
                                reverse=reverse)  # fmt: skip

    # ---- use ----------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.model is None:
            raise DataError("This model is not fitted.", "Call fit() or load a run folder.")

    def outputs(self, texts: list[str], beam: int | None = None,
                max_tokens: int | None = None) -> list[str]:  # fmt: skip
        """The served model's output text for each input text."""
        from layerwise.tasks.text_to_text.pairs import normalise_text

        self._require_fitted()
        texts = [normalise_text(t) if isinstance(t, str) else t for t in texts]
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text:
                raise DataError(f"Input {i + 1} of {len(texts)} is empty.",
                                "Give a text to translate or to reply to.")  # fmt: skip
        if self.chosen == "transformer":
            beam = self.option("beam") if beam is None else beam
            max_tokens = self.option("max_tokens") if max_tokens is None else max_tokens
            return self.model.predict(texts, beam=beam, max_tokens=max_tokens)
        return self.model.predict(texts)

    def reply(self, text: str, beam: int | None = None) -> str:
        """One output for one input (``layerwise chat``)."""
        return self.outputs([text], beam=beam)[0]

    def predict(self, inputs: Any, beam: int | None = None,
                max_tokens: int | None = None) -> pd.DataFrame:  # fmt: skip
        """One row per input text: ``input``, ``output`` (and ``similarity`` from the memory).
        ``inputs``: a text, a list of texts, a text file (one input per line) or a table with
        the source column."""
        texts = self.input_texts(inputs)
        if self.chosen != "translation-memory":
            return pd.DataFrame({"input": texts, "output": self.outputs(texts, beam, max_tokens)})
        from layerwise.tasks.text_to_text.pairs import normalise_text

        self._require_fitted()  # one search gives the output and its similarity
        index, similarity = self.model.nearest([normalise_text(t) for t in texts])
        return pd.DataFrame({"input": texts, "output": [self.model.targets[i] for i in index],
                             "similarity": similarity.round(4)})  # fmt: skip

    def input_texts(self, inputs: Any) -> list[str]:
        from layerwise.tasks.text_to_text.inputs import input_texts

        return input_texts(inputs, self.option("source_column"))

    def evaluate(self, data: Any) -> dict[str, Any]:
        """BLEU, chrF and exact match (one reference each, and all references of each source),
        and the same by source length, on labelled pairs."""
        from layerwise.tasks.text_to_text.pairs import references_by_source
        from layerwise.tasks.text_to_text.scores import scores_by_length, text_scores

        pairs = self.read_pairs(data)
        found = self.outputs(pairs.sources)
        refs = references_by_source(pairs)
        multi = [refs[s] for s in pairs.sources]
        scores = text_scores(found, pairs.targets, multi)
        return {"rows": len(pairs), **scores,
                "by_length": scores_by_length(pairs.sources, found, pairs.targets)}  # fmt: skip

    def evaluation_rows(self, data: Any) -> int:
        return len(self.read_pairs(data))

    def prediction_rows(self, inputs: Any) -> int:
        return len(self.input_texts(inputs))

    def command_line_input(self, data: str) -> Any:
        """A file's path when DATA names a file, else DATA is the text itself."""
        return Path(data) if Path(data).is_file() else data

    # ---- schema, load, contract ----------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {"type": "text", "note": "one text per input; the output is written for each"}

    def output_schema(self) -> dict[str, Any]:
        fields = {"input": "str: the text given", "output": "str: the text written for it"}
        if self.chosen == "translation-memory":
            fields["similarity"] = ("float: cosine similarity (0 to 1) of the input to the "
                                    "training source whose target was answered")  # fmt: skip
        return {"kind": "text", "fields": fields}

    @classmethod
    def load(cls, run: RunFolder) -> TextToText:
        from layerwise.tasks.text_to_text.outputs import restore

        return restore(cls, run)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.text_to_text.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.tasks.text_to_text.generated import generated_pairs

        data = generated_pairs(80, kind="numbers", seed=seed)
        options = {"candidate_params": {"transformer": {"epochs": 2, "dim": 32, "layers": 1}}}
        return data, options, ["forty-two", "one hundred and seven"]


def _two_files(files: Any) -> tuple[str, str]:
    """The source and target paths of ``pair_files``: a mapping (in order) or two
    ``name=path`` strings."""
    if isinstance(files, dict):
        paths = list(files.values())
    elif isinstance(files, (list, tuple)):
        paths = [str(f).split("=", 1)[-1] for f in files]
    else:
        paths = []
    if len(paths) != 2:
        raise ConfigError(f"pair_files={files!r} does not name two files.",
                          "Give the source file then the target file, e.g. "
                          "--pair-files en=train.en fr=train.fr.")  # fmt: skip
    return str(paths[0]), str(paths[1])
