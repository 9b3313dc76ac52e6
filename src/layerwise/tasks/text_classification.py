"""text-classification: sentiment, spam, topics. A Transformer encoder and a CNN over subword
tokens compete with TF-IDF + logistic regression and NB-SVM (and the mean of the best deep and
the best classical model); the advisor serves the best on validation, often a classical one.

Inputs: a table with a text and a label column, one file per class (one example a line), a
folder per class of .txt files, or texts in memory (see :func:`layerwise.data.text.read_texts`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from layerwise.registry import Registry
from layerwise.runs.folder import RunFolder
from layerwise.tasks.base import Run
from layerwise.tasks.holdout_base import HoldoutTask

CANDIDATES = Registry("text candidate")
CANDIDATES.register(
    "tfidf-logistic",
    "layerwise.classical.text_baselines:TfidfLogisticCandidate",
    "TF-IDF word 1-2 + char 2-5 grams, logistic regression",
)
CANDIDATES.register("nbsvm", "layerwise.classical.text_baselines:NBSVMCandidate", "NB-SVM")
CANDIDATES.register("text-cnn", "layerwise.tasks.text_deep:TextCNNCandidate", "CNN over tokens")
CANDIDATES.register(
    "transformer", "layerwise.tasks.text_deep:TransformerCandidate", "Transformer encoder"
)
CANDIDATES.register(
    "ensemble", "layerwise.tasks.text_ensemble:TextEnsembleCandidate", "best deep + classical"
)

DEFAULTS: dict[str, Any] = {
    "output_dir": "runs",
    "test_data": None,
    "test_size": 0.1,
    "val_size": 0.1,
    "time_limit": None,
    "seed": 0,
    "candidates": None,
    "candidate_params": {},
    "report": True,
    "verbose": True,
    "device": "auto",
    "resume": None,
    "text_column": None,
    "class_files": None,  # {"pos": "rt-polarity.pos", ...}: one example a line
    "threshold": "auto",  # two classes: Youden's J on validation; or a number, or None (argmax)
}
# Seconds each deep candidate may train on a CPU when no time limit is given.
CPU_DEEP_BUDGET_S = 150.0
N_EXPLAINED = 6  # test texts whose word attributions the report shows


class TextClassification(HoldoutTask):
    """Classify texts; deep and classical models compete, the advisor chooses.

    >>> import layerwise
    >>> texts = ["a great film", "an awful film"] * 50
    >>> run = layerwise.fit((texts, ["pos", "neg"] * 50), task="text-classification")  # doctest: +SKIP
    >>> run.predict(["what a great story"])  # doctest: +SKIP
    """

    name: ClassVar[str] = "text-classification"
    description: ClassVar[str] = "Classify texts (sentiment, spam, topics)"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    CANDIDATES: ClassVar[Registry] = CANDIDATES
    unit: ClassVar[str] = "texts"

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
        from layerwise.train.trainer import resolve_device

        params = super().candidate_params(name)
        deep = CANDIDATES.get(name).family == "deep"
        cpu = resolve_device(self.option("device")).type == "cpu"
        if deep and cpu and self.option("time_limit") is None:
            params.setdefault("time_limit", CPU_DEEP_BUDGET_S)
        return params

    def preprocess_json(self) -> dict[str, Any]:
        return {"text_column": self.option("text_column")}

    def write_extras(self, run: RunFolder, test: Any, proba: dict[str, np.ndarray]) -> None:
        from layerwise.tasks.text_outputs import write_text_extras

        write_text_extras(self, run, test)

    def prediction_notes(self, texts: Any) -> list[str]:
        """Empty texts get a prediction (the model's prior) and this note, not an error."""
        empty = sum(1 for t in texts.texts if not t.strip())
        if not empty:
            return []
        return [f"{empty} empty text(s): predicted without any words to go on (the prior)."]

    # ---- fit --------------------------------------------------------------------------
    def fit(self, data: Any = None, target: str | None = None, **options: Any) -> Run:
        """Read, split, train every candidate on one holdout, choose, and write the run."""
        from layerwise.tasks.image_plan import class_weights
        from layerwise.tasks.tabular_outputs import open_run_folder
        from layerwise.tasks.text_ensemble import ensemble_row

        self._check_options(options)
        self.options = {**self.options, **options}
        started = time.perf_counter()
        (train, val, test), profile, plan = self.profile_and_plan(data, target)
        run = open_run_folder(self, data)  # after the data checks: bad input leaves no folder
        weights = class_weights(train.labels, len(self.classes)) if plan.class_weights else None
        rows = self._bake_off(plan, (train, val, test), weights, run, started)
        row = ensemble_row(self, rows, plan, val, test)
        if row is not None:
            rows.append(row)
        return self.choose_and_write(run, test, plan, rows, profile, started)

    def profile_and_plan(self, data: Any, target: str | None = None) -> tuple[tuple, Any, Any]:
        """Read and split the texts, profile them and plan the bake-off (all `advise` does)."""
        from layerwise.tasks.text_plan import TextProfile, plan_texts

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
        plan = plan_texts(profile, protocol)
        if self.option("candidates"):
            plan.candidates = [c for c in plan.candidates if c in self.option("candidates")]
        for line in profile.summary_lines():
            self.say(f"[dim]{line}[/dim]")
        for rule in plan.fired():
            self.say(f"[cyan]rule[/cyan] {rule.name}: {rule.says}")
        return (train, val, test), profile, plan

    # ---- explanations -----------------------------------------------------------------
    def explain_text(self, text: str) -> tuple[str, list[tuple[str, float]]]:
        """The predicted class of ``text`` and each word's weight for it (occlusion: how much
        the predicted class's probability drops when the word is left out)."""
        from layerwise.tasks.text_outputs import occlusion

        self._require_fitted()
        return occlusion(self, text)

    def explain(self, data: Any, out_dir: str | Path, prefix: str = "") -> list[Path]:
        """Write ``explanation.html`` and ``explanation.json`` for the first text of ``data``."""
        from layerwise.tasks.text_outputs import write_explanation

        texts = self.read(data, labelled=False)
        return write_explanation(self, texts.texts[0], Path(out_dir), prefix)

    # ---- schema and loading -------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {"type": "text", "column": self.option("text_column"), "note": "one string"}

    def output_schema(self) -> dict[str, Any]:
        return {
            "type": "label",
            "classes": self.classes,
            "threshold": self.threshold,
            "fields": ["prediction"] + [f"probability_{c}" for c in self.classes],
        }

    @classmethod
    def load(cls, run: RunFolder) -> TextClassification:
        stored = run.read_json("preprocess.json")
        options = run.read_yaml("config.yaml").get("options", {})
        task = cls(**{k: v for k, v in options.items() if k in cls.DEFAULTS})
        task.classes, task.chosen = stored["classes"], stored["chosen"]
        task.threshold, task.target = stored.get("threshold"), stored.get("target")
        infos = stored["models"]
        for name, info in infos.items():
            if name != "ensemble":
                task.models[name] = CANDIDATES.get(name).load(run, info)
        if "ensemble" in infos:
            from layerwise.tasks.text_ensemble import TextEnsembleCandidate

            task.models["ensemble"] = TextEnsembleCandidate.of(task.models, infos["ensemble"])
        for name, info in infos.items():
            task.models[name].threshold = info.get("threshold")
        return task

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.data.text_sources import reviews

        texts = reviews(240, seed=seed)
        fast = {"epochs": 2, "dim": 32, "vocab_size": 300}
        options = {"candidate_params": {"text-cnn": fast, "transformer": fast}}
        return texts, options, texts.texts[:7]
