"""text-classification: sentiment, spam, topics. A Transformer encoder and a CNN over subword
tokens compete with TF-IDF + logistic regression and NB-SVM (and the mean of the best deep and
the best classical model); the advisor serves the best on validation, often a classical one.

Inputs: a table with a text and a label column, one file per class (one example a line), a
folder per class of .txt files, or texts in memory (see :func:`layerwise.data.text.read_texts`).

Started by torchrun or ``--devices N``, every process trains the deep models together (DDP, with
rank 0's vocabulary and time limit) and rank 0 alone the n-gram models and the run folder
(:mod:`layerwise.core.holdout_bakeoff`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from layerwise.core.holdout import HOLDOUT_DEFAULTS, HoldoutTask
from layerwise.core.registry import Registry
from layerwise.runs.folder import RunFolder

CANDIDATES = Registry("text candidate")
CANDIDATES.register(
    "tfidf-logistic",
    "layerwise.tasks.text_classification.baselines:TfidfLogisticCandidate",
    "TF-IDF word 1-2 + char 2-5 grams, logistic regression",
)
CANDIDATES.register(
    "nbsvm", "layerwise.tasks.text_classification.baselines:NBSVMCandidate", "NB-SVM"
)
CANDIDATES.register(
    "text-cnn", "layerwise.tasks.text_classification.deep:TextCNNCandidate", "CNN over tokens"
)
CANDIDATES.register(
    "transformer",
    "layerwise.tasks.text_classification.deep:TransformerCandidate",
    "Transformer encoder",
)
CANDIDATES.register(
    "classical-ensemble",
    "layerwise.tasks.text_classification.ensemble:ClassicalEnsembleCandidate",
    "mean of the n-gram models",
)
CANDIDATES.register(
    "ensemble",
    "layerwise.tasks.text_classification.ensemble:TextEnsembleCandidate",
    "best deep + classical",
)

DEFAULTS: dict[str, Any] = {
    **HOLDOUT_DEFAULTS,
    "test_size": 0.1,
    "val_size": 0.1,
    "text_column": None,
    "class_files": None,  # {"pos": "rt-polarity.pos", ...}: one example a line
}
# Seconds each deep candidate may train on a CPU when no time limit is given.
CPU_DEEP_BUDGET_S = 150.0


class TextClassification(HoldoutTask):
    """Classify texts; deep and classical models compete, the advisor chooses.

    >>> import layerwise
    >>> texts = ["a great film", "an awful film"] * 50
    >>> run = layerwise.fit((texts, ["pos", "neg"] * 50), task="text-classification")  # doctest: +SKIP
    >>> run.predict(["what a great story"])  # doctest: +SKIP
    """

    name: ClassVar[str] = "text-classification"
    description: ClassVar[str] = "Classify texts (sentiment, spam, topics)"
    request_kind: ClassVar[str | None] = "texts"  # served: see layerwise.serve.requests
    joinable_requests: ClassVar[bool] = True
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    CANDIDATES: ClassVar[Registry] = CANDIDATES
    unit: ClassVar[str] = "texts"
    batch_predicts: ClassVar[bool] = True  # layerwise predict --batch-size
    # the deep candidates under DDP on every rank, the n-gram models on rank 0 (HoldoutBakeOff)
    data_parallel: ClassVar[bool] = True

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.text_classification.cli import reviews

        return reviews(folder)

    def read(self, data: Any, target: str | None = None, labelled: bool = True) -> Any:
        from layerwise.data.text import read_texts
        from layerwise.errors import DataError

        class_files = self.option("class_files") if data is None else None
        texts = read_texts(
            data,
            text_column=self.option("text_column"),
            target=target,
            class_files=class_files,
            classes=self.classes or None,
        )
        if labelled and texts.labels is None:
            raise DataError(
                f"The texts in '{texts.source}' have no labels.",
                "Pass a table with --text-column and --target, --class-files pos=a.txt "
                "neg=b.txt, or a folder per class of .txt files.",
            )
        return texts

    def inputs_of(self, texts: Any) -> list[str]:
        return texts.texts

    def candidate_params(self, name: str) -> dict[str, Any]:
        from layerwise.engine.config import resolve_device

        params = super().candidate_params(name)
        deep = CANDIDATES.get(name).family == "deep"
        cpu = resolve_device(self.option("device")).type == "cpu"
        if deep and cpu and self.option("time_limit") is None:
            params.setdefault("time_limit", CPU_DEEP_BUDGET_S)
        return params

    def preprocess_json(self) -> dict[str, Any]:
        return {"text_column": self.option("text_column")}

    def write_extras(self, run: RunFolder, test: Any, proba: dict[str, np.ndarray]) -> None:
        from layerwise.tasks.text_classification.outputs import write_text_extras

        write_text_extras(self, run, test, proba[self.chosen])

    def prediction_notes(self, texts: Any) -> list[str]:
        """Empty texts get a prediction (the model's prior) and this note, not an error."""
        empty = sum(1 for t in texts.texts if not t.strip())
        if not empty:
            return []
        return [f"{empty} empty text(s): predicted without any words to go on (the prior)."]

    def extra_rows(self, rows: list[dict], plan: Any, val: Any, test: Any) -> list[dict]:
        from layerwise.tasks.text_classification.ensemble import ensemble_rows

        return ensemble_rows(self, rows, plan, val, test)

    def profile_and_plan(self, data: Any, target: str | None = None) -> tuple[tuple, Any, Any]:
        """Read and split the texts, profile them and plan the bake-off (all `advise` does)."""
        from layerwise.tasks.text_classification.plan import TextProfile, plan_texts

        texts = self.read(data, target)
        self._check_labels(texts)
        self.target = target
        self.classes = list(texts.classes)
        train, val, test, protocol = self._split(texts)
        words = [len(t.split()) for t in train.texts]
        profile = TextProfile(
            len(train),
            len(val),
            len(test),
            self.classes,
            np.bincount(train.labels, minlength=len(self.classes)).tolist(),
            float(np.median(words)),
            texts.source,
            list(texts.notes),
        )
        return (train, val, test), profile, self.announce(profile, plan_texts(profile, protocol))

    # ---- explanations -----------------------------------------------------------------
    def explain_text(self, text: str) -> tuple[str, list[tuple[str, float]]]:
        """The predicted class of ``text`` and each word's weight for it (occlusion: how much
        the predicted class's probability drops when the word is left out)."""
        from layerwise.tasks.text_classification.outputs import occlusion

        self._require_fitted()
        return occlusion(self, text)

    def explain(self, data: Any, out_dir: str | Path, prefix: str = "") -> list[Path]:
        """Write ``explanation.html`` and ``explanation.json`` for the first text of ``data``."""
        from layerwise.tasks.text_classification.outputs import write_explanation

        texts = self.read(data, labelled=False)
        return write_explanation(self, texts.texts[0], Path(out_dir), prefix)

    # ---- schema and loading -------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {"type": "text", "column": self.option("text_column"), "note": "one string"}

    def load_model(self, run: RunFolder, name: str, info: dict[str, Any]) -> Any:
        if "members" in info:
            from layerwise.tasks.text_classification.ensemble import TextEnsembleCandidate

            return TextEnsembleCandidate.of(self.models, info, name)
        return super().load_model(run, name, info)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.text_classification.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.tasks.text_classification.sources import reviews

        texts = reviews(240, seed=seed)
        fast = {"epochs": 2, "dim": 32, "vocab_size": 300}
        options = {"candidate_params": {"text-cnn": fast, "transformer": fast}}
        return texts, options, texts.texts[:7]
