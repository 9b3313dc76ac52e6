"""What the image and text classification tasks share: options, one stratified holdout
for validation (or the dataset's own splits), a bake-off of candidates on it, the advisor's
choice, a decision threshold for two classes, and labels with probabilities as predictions.

A subclass sets ``DEFAULTS``, ``CANDIDATES`` and ``unit``, and implements ``read`` (data ->
a set with ``labels``, ``classes``, ``names``, ``notes``, ``source`` and ``subset``),
``inputs_of`` (a set -> what its candidates' ``predict`` takes), ``profile_and_plan`` and the
schema, load and contract methods of :class:`~layerwise.core.task.Task`. The training and
validation of the candidates is in :mod:`layerwise.core.holdout_bakeoff`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.holdout_bakeoff import HoldoutBakeOff
from layerwise.core.operating_point import (
    calibrate_chosen,
    check_operating_options,
    check_two_classes,
    operating_point_sentence,
    settle_operating_point,
    threshold_metric,
)
from layerwise.core.registry import Registry
from layerwise.core.task import RUN_DEFAULTS, Run, Task
from layerwise.errors import ConfigError, DataError, closest
from layerwise.runs.folder import RunFolder

# The options every holdout task takes; a task adds its own and may change the split sizes.
HOLDOUT_DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,
    "test_data": None,
    "test_size": 0.2,
    "val_size": 0.15,
    "threshold": "auto",  # two classes: the cut that maximises the reported metric on validation
    # (macro-F1 where imbalanced, else accuracy), moved from 0.5 only when the gain holds on
    # held-out rows; or the metric to serve (accuracy, macro-f1, balanced-accuracy), a goal
    # (recall@precision=0.9, precision@recall=0.95), cost (the lowest cost_fp x FP + cost_fn x
    # FN), a probability, or None (argmax); see core/operating_point.py
    "cost_fp": None,  # threshold=cost: the cost of a false positive [1]
    "cost_fn": None,  # threshold=cost: the cost of a false negative [1]
    "prior": None,  # two classes: the share of the second class where the model will be used
    "cheap_folds": 5,  # cheap candidates (n-gram models): k-fold CV over training + validation,
    # then refit on all of it; 0 or 1: one holdout and no refit, as for the deep ones
}


def imbalance(counts: list[int]) -> float:
    """The largest class count over the smallest non-zero one (1.0 when balanced or empty)."""
    present = [c for c in counts if c > 0]
    return max(present) / min(present) if present else 1.0


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class loss weights ``n / (k * count)`` (1 for a balanced set)."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return len(labels) / (n_classes * np.maximum(counts, 1))


class HoldoutTask(HoldoutBakeOff, Task):
    """Base of the classification tasks that validate on one holdout (see the module doc)."""

    DEFAULTS: ClassVar[dict[str, Any]]
    CANDIDATES: ClassVar[Registry]
    unit: ClassVar[str] = "examples"  # "examples", "texts": used in messages

    def __init__(self, **options: Any):
        self._check_options(options)
        super().__init__(**options)
        self.classes: list[str] = []
        self.models: dict[str, Any] = {}
        self.chosen: str | None = None
        self.threshold: float | None = None
        self.temperature = 1.0  # the chosen model's calibration (fit_temperature)
        self.calibration: dict[str, Any] = {}
        self.prior: dict[str, float] | None = None  # {prior, training_prevalence, ...}
        self.prior_shift = 0.0  # what the prior adds to the log-odds of the second class
        self.operating_point: dict[str, Any] = {}  # the cut's target and evidence
        self.target: str | None = None

    def read(self, data: Any, target: str | None = None, labelled: bool = True) -> Any:
        raise NotImplementedError

    def inputs_of(self, examples: Any) -> Any:
        raise NotImplementedError

    def profile_and_plan(self, data: Any, target: str | None = None) -> tuple[tuple, Any, Any]:
        """Read and split the data, profile it and plan the bake-off (all `advise` does)."""
        raise NotImplementedError

    def preprocess_json(self) -> dict[str, Any]:
        """What preprocess.json records besides classes, threshold and models."""
        return {}

    def restore(self, stored: dict[str, Any]) -> None:
        """Read back what :meth:`preprocess_json` wrote."""

    def extra_rows(self, rows: list[dict], plan: Any, val: Any, test: Any) -> list[dict]:
        """Candidates measured from the others (an ensemble); none by default."""
        return []

    def write_extras(self, run: RunFolder, test: Any, proba: dict[str, np.ndarray]) -> None:
        """The task's own files in the run folder (views, explanations); none by default."""

    def after_bake_off(self, run: RunFolder, data: tuple, started: float) -> None:
        """Models beside the candidates (a transcriber), trained on (train, val, test); none
        by default."""

    def extra_metrics(self) -> dict[str, Any]:
        """What metrics.json records beyond the candidates' scores; nothing by default."""
        return {}

    def fit(self, data: Any = None, target: str | None = None, **options: Any) -> Run:
        """Read, split, train every candidate on one holdout, choose, and write the run. In a
        world of several processes every rank trains the deep candidates together and rank 0
        alone the rest; the other ranks return None."""
        from layerwise.engine.distributed import current_world
        from layerwise.runs.writer import open_run_folder

        self._check_options(options)
        self.options = {**self.options, **options}
        started = time.perf_counter()
        (train, val, test), profile, plan = self.profile_and_plan(data, target)
        check_two_classes(self)
        self._train_labels = np.asarray(train.labels)
        if plan.class_weights and threshold_metric(self.option("threshold")) == "accuracy":
            # asked for accuracy: a class-weighted model's probabilities assume balanced
            # classes, and it calls the rare class too often (imbalanced rt-polarity: 0.843
            # against 0.873 for an unweighted TF-IDF + LR at 0.5)
            plan.class_weights = False
            plan.notes.append("--threshold accuracy: the losses are not class-weighted, so the "
                              "models learn the classes as common as they are.")  # fmt: skip
        world = current_world()  # several processes: rank 0 writes the run (engine.distributed)
        run = open_run_folder(self, data) if world.main else None  # after the data checks
        weights = class_weights(train.labels, len(self.classes)) if plan.class_weights else None
        rows = self._bake_off(plan, (train, val, test), weights, run, started)
        if not world.main:
            return None  # type: ignore[return-value]
        self.after_bake_off(run, (train, val, test), started)
        rows += self.extra_rows(rows, plan, val, test)
        return self.choose_and_write(run, test, plan, rows, profile, started)

    def announce(self, profile: Any, plan: Any) -> Any:
        """Keep the candidates the user asked for, and print the profile and the rules."""
        if self.option("candidates"):
            plan.candidates = [c for c in plan.candidates if c in self.option("candidates")]
        for line in profile.summary_lines():
            self.say(f"[dim]{line}[/dim]")
        for rule in plan.fired():
            self.say(f"[cyan]rule[/cyan] {rule.name}: {rule.says}")
        return plan

    def output_schema(self) -> dict[str, Any]:
        schema = {
            "type": "label",
            "classes": self.classes,
            "threshold": self.threshold,
            "fields": ["prediction"] + [f"probability_{c}" for c in self.classes],
        }
        if self.prior is not None:  # the probabilities are those at this share of classes[1]
            schema["prior"] = self.prior["prior"]
        return schema

    def load_model(self, run: RunFolder, name: str, info: dict[str, Any]) -> Any:
        return self.CANDIDATES.get(name).load(run, info)

    @classmethod
    def load(cls, run: RunFolder) -> HoldoutTask:
        stored = run.read_json("preprocess.json")
        options = run.read_yaml("config.yaml").get("options", {})
        task = cls(**{k: v for k, v in options.items() if k in cls.DEFAULTS})
        task.classes, task.chosen = stored["classes"], stored["chosen"]
        task.threshold, task.target = stored.get("threshold"), stored.get("target")
        task.temperature = float(stored.get("temperature", 1.0))  # runs before it: uncalibrated
        if stored.get("prior") is not None:  # runs before it, or without one: no prior
            task.restore_prior(run, stored)
        task.restore(stored)
        # models built from others (an ensemble's "members") load after them
        for name, info in sorted(stored["models"].items(), key=lambda kv: "members" in kv[1]):
            task.models[name] = task.load_model(run, name, info)
            task.models[name].threshold = info.get("threshold")
        return task

    def restore_prior(self, run: RunFolder, stored: dict[str, Any]) -> None:
        """The prior of a run that has one, checked: preprocess.json is read as untrusted."""
        from layerwise.errors import RunFolderError
        from layerwise.thresholds import prior_log_odds

        keys = ("prior", "training_prevalence", "model_prevalence")
        try:
            prior = {k: float(stored[k]) for k in keys}
        except (KeyError, TypeError, ValueError):
            prior = {}
        if len(self.classes) != 2 or not prior or not all(0 < v < 1 for v in prior.values()):
            raise RunFolderError(
                f"preprocess.json in {run.path} has a prior that is not a share between 0 "
                "and 1 for a two-class model.",
                "The run folder was changed after training; train it again.",
            )
        self.prior = prior
        self.prior_shift = prior_log_odds(prior["prior"], prior["model_prevalence"])

    def candidate_params(self, name: str) -> dict[str, Any]:
        """The user's parameters for candidate ``name``; subclasses add their defaults."""
        return dict(self.option("candidate_params").get(name, {}))

    def _check_options(self, options: dict[str, Any]) -> None:
        self.check_option_names(options)
        # a bad threshold, cost or prior fails before training
        check_operating_options({**getattr(self, "options", {}), **options})
        for name in options.get("candidates") or []:
            if name not in self.CANDIDATES:
                guess = closest(name, self.CANDIDATES.names())
                raise ConfigError(
                    f"Unknown candidate '{name}'.",
                    (f"Did you mean '{guess}'? " if guess else "")
                    + f"Valid candidates: {', '.join(self.CANDIDATES.names())}.",
                )

    def _check_labels(self, examples: Any) -> None:
        counts = np.bincount(examples.labels[examples.labels >= 0], minlength=len(examples.classes))
        present = [c for c, n in zip(examples.classes, counts, strict=True) if n > 0]
        if len(present) < 2:
            raise DataError(
                f"Only one class ({', '.join(present) or 'none'}) in '{examples.source}'.",
                f"Classification needs {self.unit} of at least two classes.",
            )

    def _split(self, examples: Any) -> tuple[Any, Any, Any, str]:
        """Training, validation and test sets: the layout's own splits where it has them."""
        split = getattr(examples, "split", None)
        split = split if split is not None else np.full(len(examples), "")
        if self.option("test_data") is not None:
            test = self.read(self.option("test_data"))
            rest, source = examples.subset(split != "test"), "the --test-data set"
        elif (split == "test").any():
            test, rest, source = (
                examples.subset(split == "test"),
                examples.subset(split != "test"),
                "the dataset's test split",
            )
        else:
            rest_idx, test_idx = self._holdout(examples.labels, self.option("test_size"))
            test, rest = examples.subset(test_idx), examples.subset(rest_idx)
            source = f"a stratified {self.option('test_size'):.0%} holdout"
        rest_split = split[split != "test"]
        if (rest_split == "val").any():
            val, train = rest.subset(rest_split == "val"), rest.subset(rest_split != "val")
            protocol = "the dataset's own validation split"
        else:
            train_idx, val_idx = self._holdout(rest.labels, self.option("val_size"))
            train, val = rest.subset(train_idx), rest.subset(val_idx)
            protocol = f"one stratified holdout of {self.option('val_size'):.0%} of the training {self.unit}"
        if min(len(train), len(val), len(test)) == 0:
            raise DataError(
                f"Too few {self.unit} to train, validate and test ({len(examples)} readable).",
                f"Provide at least a few dozen {self.unit} per class.",
            )
        return train, val, test, f"{protocol} (test: {source})"

    def _holdout(self, labels: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(labels))
        if len(labels) < 10:
            raise DataError(
                f"Only {len(labels)} labelled examples: too few to split.",
                f"Provide at least a few dozen {self.unit} per class.",
            )
        stratify = labels if np.bincount(labels).min() >= 2 else None
        return train_test_split(
            index, test_size=size, random_state=self.option("seed"), stratify=stratify
        )

    def _threshold_of(self, name: str) -> float | None:
        return getattr(self.models[name], "threshold", None)

    # ---- metrics, predict, evaluate -----------------------------------------------------
    def score(
        self,
        labels: np.ndarray,
        proba: np.ndarray,
        threshold: float | None,
        weights: np.ndarray | None = None,
    ) -> dict[str, float]:
        """Accuracy, balanced accuracy, macro-F1, ROC-AUC, log loss; with two classes and a
        threshold, the label-based ones at that threshold plus sensitivity and specificity.
        ``weights`` weigh the rows (a prior's, :func:`layerwise.thresholds.prior_weights`)."""
        from sklearn.metrics import f1_score

        from layerwise.metrics import classification_metrics
        from layerwise.thresholds import binary_operating_point

        known = labels >= 0
        labels, proba = labels[known], proba[known]
        weights = None if weights is None else np.asarray(weights)[known]
        if len(labels) == 0:
            return {}
        result = classification_metrics(labels, proba, weights)
        if threshold is not None and proba.shape[1] == 2:
            point = binary_operating_point(labels, proba[:, 1], threshold, weights)
            called = (proba[:, 1] >= threshold).astype(int)
            result.update(point)
            result["macro_f1"] = float(
                f1_score(
                    labels, called, average="macro", labels=np.unique(labels), sample_weight=weights
                )
            )
        return result

    def _require_fitted(self) -> None:
        if self.chosen is None:
            raise ConfigError(
                f"This {self.name} task has not been fitted.",
                "Call fit(...) first, or layerwise.load(run_folder).",
            )

    def predict_proba(self, inputs: Any) -> np.ndarray:
        self._require_fitted()
        return self.served(self.models[self.chosen].predict(inputs))

    def served(self, proba: np.ndarray) -> np.ndarray:
        """The chosen model's own probabilities as the run serves them: calibrated (its
        temperature), then moved to the prior where one was given."""
        from layerwise.metrics import apply_temperature
        from layerwise.thresholds import shift_probabilities

        return shift_probabilities(apply_temperature(proba, self.temperature), self.prior_shift)

    def labels_of(self, proba: np.ndarray) -> list[str]:
        if self.threshold is not None and proba.shape[1] == 2:
            return [self.classes[int(p >= self.threshold)] for p in proba[:, 1]]
        return [self.classes[i] for i in proba.argmax(axis=1)]

    def predict(self, inputs: Any) -> pd.DataFrame:
        """A frame with the input's name, ``prediction`` and ``probability_<class>`` per class."""
        self._require_fitted()
        examples = self.read(inputs, labelled=False)
        proba = self.predict_proba(self.inputs_of(examples))
        column = self.unit.rstrip("s")
        result = pd.DataFrame({column: examples.names, "prediction": self.labels_of(proba)})
        for i, label in enumerate(self.classes):
            result[f"probability_{label}"] = proba[:, i]
        notes = list(examples.notes)
        skipped = getattr(examples, "skipped", [])
        if skipped:
            first = ", ".join(name for name, _ in skipped[:3])
            notes.append(f"{len(skipped)} unreadable {self.unit} skipped (first: {first}).")
        result.attrs["notes"] = notes + self.prediction_notes(examples)
        return result

    def prediction_notes(self, examples: Any) -> list[str]:
        """Remarks on the inputs of a prediction (none by default)."""
        return []

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Metrics on labelled data (a layout with a test split is scored on that split)."""
        self._require_fitted()
        examples = self.read(data, self.target, labelled=True)
        notes = list(examples.notes)
        split = getattr(examples, "split", None)
        if split is not None and (split == "test").any():
            examples = examples.subset(split == "test")
            notes.append("scored on the dataset's test split")
        unknown = int((examples.labels < 0).sum())
        if unknown:
            notes.append(f"{unknown} {self.unit} have classes not seen in training; left out.")
        if self.prior is not None:
            notes.append(
                f"probabilities adjusted to a prior of {self.prior['prior']:g} for "
                f"'{self.classes[1]}'; the rows are scored as they are, unweighted"
            )
        metrics: dict[str, Any] = self.score(
            examples.labels, self.predict_proba(self.inputs_of(examples)), self.threshold
        )
        metrics["rows"] = int((examples.labels >= 0).sum())
        metrics["notes"] = notes
        return metrics

    def choose_and_write(
        self, run: RunFolder, test: Any, plan: Any, rows: list[dict], profile: Any, started: float
    ) -> Run:
        """The advisor's choice among the measured candidates, then the run folder."""
        from layerwise.core import selection
        from layerwise.core.holdout_outputs import write_holdout_run

        for model in self.models.values():
            profile.notes += getattr(model, "notes", [])
        complexity = {n: self.CANDIDATES.get(n).complexity for n in self.CANDIDATES.names()}
        for row in rows:
            if "val_proba" in row:
                row["evidence"] = self._evidence(row, plan)
                row["cross_validated"] = "oof" in row or bool(row.get("cross_validated"))
        self.chosen, reason = selection.choose(rows, plan, complexity)
        self.threshold = getattr(self.models[self.chosen], "threshold", None)
        chosen_row = next(r for r in rows if r["candidate"] == self.chosen)
        calibrate_chosen(self, chosen_row, test)
        settle_operating_point(self, chosen_row, test, self._train_labels)
        self.say(f"[bold green]chosen[/bold green] {reason}")
        if operating_point_sentence(self):
            self.say(f"[cyan]threshold[/cyan] {operating_point_sentence(self)}")
        return write_holdout_run(
            self,
            run,
            test=test,
            plan=plan,
            rows=rows,
            reason=reason,
            profile=profile,
            seconds=time.perf_counter() - started,
        )
