"""anomaly-detection: find the unusual rows of a table, with or without labelled examples.

Without labels every detector (isolation forest, kNN distance, a shrunk-Gaussian Mahalanobis
score, an autoencoder, Deep SVDD) is fitted on the rows and their scores are standardised; the
ensemble (the mean of isolation forest's and the Mahalanobis score, the pair that did best on
ADBench) is served: with no labels there is no score to choose by, and no single detector wins
across datasets. With a label column (``target``; blank cells are unlabelled rows) the
labelled rows choose: every detector is scored on them and, with enough labelled anomalies
(fraud mode), LightGBM, CatBoost (when installed) and a focal-loss MLP learn from them with
the detectors' scores as extra features, compared out of fold, beside their greedy weighted
ensemble (scored cross-fitted, kept only where the project's selection rule prefers it to the
best single model over the folds). Precision-recall AUC decides, and the ensemble of detectors
stays served unless a candidate beats it on nearly every bootstrap resample.

Flags come from a threshold a user can act on: an alert budget (flag the top 1% by
default), a target precision or recall, or the costs of a false alarm and a miss.

Under ``--devices N`` or torchrun the deep models (the autoencoder, Deep SVDD, the focal-loss
MLP) train data-parallel on every process; the classical detectors, the boosted fraud models,
the choice, the threshold and the run folder are the first process's (see :mod:`.ranks`).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.holdout import HOLDOUT_DEFAULTS
from layerwise.core.task import Run, Task
from layerwise.errors import DataError, missing_column
from layerwise.runs.folder import RunFolder

DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in HOLDOUT_DEFAULTS.items() if k not in ("test_data", "val_size",
                                                               "threshold", "cheap_folds",
                                                               "prior")},
    "alert_budget": None,
    "target_precision": None,
    "target_recall": None,
    "cost_fp": None,
    "cost_fn": None,
}  # fmt: skip
POSITIVE_WORDS = {"1", "true", "yes", "y", "fraud", "anomaly", "outlier", "abnormal", "bad"}


class AnomalyDetection(Task):
    """Unsupervised anomaly scores, or a fraud model when some rows are labelled.

    >>> AnomalyDetection(alert_budget="0.5%").name
    'anomaly-detection'
    """

    name: ClassVar[str] = "anomaly-detection"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    description: ClassVar[str] = "Score unusual rows (anomalies, fraud) with thresholds to act on"
    request_kind: ClassVar[str | None] = "rows"  # served: see layerwise.serve.requests
    joinable_requests: ClassVar[bool] = True
    data_parallel: ClassVar[bool] = True  # the deep models under DDP; the rest on rank 0

    predict_options: ClassVar[tuple[str, ...]] = ("alert_budget",)  # layerwise predict
    batch_predicts: ClassVar[bool] = True

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.anomaly_detection.cli import transactions

        return transactions(folder)

    def __init__(self, **options: Any):
        self._check_options(options)
        super().__init__(**options)
        self.target: str | None = None
        self.positive: str | None = None
        self.features: Any = None
        self.model: Any = None
        self.threshold: dict[str, Any] = {}
        self.calibrator: Any = None
        self.fraud: dict[str, Any] = {}  # set by fit in fraud mode: see fit._fit_supervised

    def _check_options(self, options: dict[str, Any]) -> None:
        self.check_option_names(options)
        if options.get("alert_budget") is not None:
            from layerwise.tasks.anomaly_detection.scoring import parse_budget

            parse_budget(options["alert_budget"])

    # ---- fit ---------------------------------------------------------------------------
    def fit(self, data: Any, target: str | None = None, **options: Any) -> Run:
        """Fit every detector (and fraud-mode models when labels allow), choose, set the
        threshold, and write the run folder. In a world of several processes every rank trains
        the deep models together and rank 0 alone the rest; the other ranks return None."""
        from layerwise.tasks.anomaly_detection.fit import fit_anomaly

        self._check_options(options)
        self.options = {**self.options, **options}
        started = time.perf_counter()
        frame, labels = self.read(data, target)
        return fit_anomaly(self, data, frame, labels, started)

    def profile_and_plan(self, data: Any, target: str | None = None) -> tuple[Any, Any, Any]:
        """What ``layerwise advise`` shows: the table's profile and which candidates would
        compete, in which mode, chosen how. Nothing is trained."""
        from layerwise.core.advisor import Plan, Rule
        from layerwise.data.profile import profile_table
        from layerwise.tasks.anomaly_detection.fit import (
            FRAUD_ENSEMBLE,
            MIN_SUPERVISED,
            MIN_TO_CHOOSE,
            _detector_names,
            supervised_names,
        )

        frame, labels = self.read(data, target)
        profile = profile_table(frame, None)
        positives = 0 if labels is None else int(np.nansum(labels))
        known = 0 if labels is None else int((~np.isnan(labels)).sum())
        fraud = min(positives, known - positives) >= MIN_SUPERVISED
        fraud_models, notes = supervised_names(self) if fraud else ([], [])
        asked = self.option("candidates")
        if len(fraud_models) > 1 and (not asked or FRAUD_ENSEMBLE in asked):
            fraud_models.append(FRAUD_ENSEMBLE)
        candidates = [*_detector_names(self), "ensemble", *fraud_models]
        rules = [
            Rule("no labels", labels is None, "serve the ensemble of isolation forest and the "
                 "Mahalanobis score; no validation score exists"),
            Rule("few labels", labels is not None and positives < MIN_TO_CHOOSE,
                 f"{positives} labelled anomalies: too few to overrule the ensemble"),
            Rule("fraud mode", fraud, f"{positives} labelled anomalies: "
                 f"{', '.join(fraud_models)} learn from them, detector scores as features; "
                 "the ensemble only where it beats the best single one beyond the folds' noise"),
        ]  # fmt: skip
        labelled = labels is not None
        plan = Plan(
            candidates=candidates,
            rules=rules,
            protocol="labelled rows (fraud models out of fold)" if labelled else "none",
            n_splits=5 if fraud else 0,
            metric="pr_auc" if labelled else "flagged_share",
            greater_is_better=True,
            tolerance=0.0,
            class_weights=fraud,
            recommendation="the ensemble, unless labelled rows show another candidate better "
            "on 90% of bootstrap resamples",
            ensemble=fraud,
            notes=notes,
        )
        return frame, profile, plan

    def read(self, data: Any, target: str | None) -> tuple[pd.DataFrame, np.ndarray | None]:
        """The table without its label column, and the labels (1 anomaly, 0 normal, NaN
        unlabelled) when ``target`` names one."""
        from layerwise.data.tabular import read_table

        frame = read_table(data)
        if target is None:
            if "y" in frame.columns and str(data).lower().endswith(".npz"):
                frame = frame.drop(columns="y")
                frame.attrs.setdefault("notes", []).append(
                    "the file's labels y are not used (pass --target y to use them)"
                )
            return frame, None
        if target not in frame.columns:
            raise missing_column(target, frame.columns, "Label column", f"'{frame.attrs['name']}'")
        self.target = target
        self.positive = None
        labels = self._labels(frame[target])
        features = frame.drop(columns=target)
        features.attrs = frame.attrs
        return features, labels

    def _labels(self, column: pd.Series) -> np.ndarray:
        given = column[column.notna() & (column.astype(str).str.strip() != "")]
        values = given.astype(str).str.strip().str.removesuffix(".0")  # 1.0 (a float column) = 1
        classes = sorted(values.unique())
        if self.positive is not None:  # a fitted run reads new labels its own way
            return self._as_codes(column, given, values)
        if len(classes) == 0:
            raise DataError(
                f"Label column '{column.name}' is empty.",
                "Fill in a label (0 normal / 1 anomaly) for at least a few rows, or leave out "
                "--target for unsupervised detection.",
            )
        if len(classes) == 1:
            raise DataError(
                f"Label column '{column.name}' holds a single class ({classes[0]!r}) in its "
                f"{len(values)} labelled rows.",
                "Label some rows of the other kind too, or leave out --target for "
                "unsupervised detection.",
            )
        if len(classes) > 2:
            raise DataError(
                f"Label column '{column.name}' has {len(classes)} classes "
                f"({', '.join(classes[:5])}); anomaly detection needs two (normal, anomaly).",
                "Map the labels to 0 (normal) and 1 (anomaly), or use tabular-classification.",
            )
        words = [c for c in classes if c.lower() in POSITIVE_WORDS]
        self.positive = words[0] if len(words) == 1 else str(values.value_counts().idxmin())
        return self._as_codes(column, given, values)

    def _as_codes(self, column: pd.Series, given: pd.Series, values: pd.Series) -> np.ndarray:
        out = np.full(len(column), np.nan)
        out[column.index.get_indexer(given.index)] = (values == self.positive).to_numpy()
        return out

    # ---- predict -----------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.model is None:
            raise DataError(
                "This anomaly detector is not fitted.", "Call fit() or load a run folder first."
            )

    def predict(self, inputs: Any, alert_budget: Any = None) -> pd.DataFrame:
        """One row per input row: ``score`` (0 = typical, 1 = the training rows' 90th
        percentile), ``percentile`` among the training rows, ``rank`` in this batch (1 = most
        unusual), ``flagged`` at the run's threshold (or at ``alert_budget``, e.g. "0.5%"),
        ``probability`` of being an anomaly when the run had labels, and ``reasons``: the
        columns that contributed most."""
        from layerwise.tasks.anomaly_detection.features import reasons

        self._require_fitted()
        frame, _ = self._frame(inputs)
        notes: list[str] = []
        x = self.features.transform(frame, notes)
        raw = self.model.served_raw(x)
        served = self.model.served_scale.standardise(raw)
        out = pd.DataFrame({"score": served})
        out["percentile"] = self.model.served_scale.percentile(raw)
        out["rank"] = pd.Series(-served).rank(method="first").astype(int).to_numpy()
        out["flagged"] = served >= self._threshold(alert_budget)
        if self.calibrator is not None:
            out["probability"] = self.calibrator.probability(served)
        shares = self.model.contributions(x)
        if shares is None:
            out["reasons"] = ""
        else:
            names, per_column = self.features.columns_of(shares)
            out["reasons"] = reasons(names, per_column)
        if notes:
            out.attrs["notes"] = notes
        return out

    def _frame(self, inputs: Any) -> tuple[pd.DataFrame, pd.Series | None]:
        """The rows to score, and their labels when they carry the run's label column."""
        from layerwise.data.tabular import read_table

        if isinstance(inputs, np.ndarray):
            inputs = pd.DataFrame(inputs, columns=[f"x{j}" for j in range(inputs.shape[1])])
        frame = read_table(inputs)
        if self.target and self.target in frame.columns:
            labels = frame[self.target]
            return frame.drop(columns=self.target), labels
        return frame, None

    def _threshold(self, alert_budget: Any = None) -> float:
        if alert_budget is None:
            return float(self.threshold["threshold"])
        from layerwise.tasks.anomaly_detection.scoring import parse_budget

        scale = self.model.served_scale
        raw = scale.raw_at(1 - parse_budget(alert_budget))
        return float(scale.standardise(np.array([raw]))[0])

    def evaluate(self, data: Any) -> dict[str, Any]:
        """The flagged share and, when ``data`` has the run's label column, ROC-AUC, PR-AUC and
        the precision and recall at the run's threshold."""
        from layerwise.tasks.anomaly_detection.scoring import precision_recall_at, ranking_metrics

        self._require_fitted()
        frame, label_column = self._frame(data)
        notes: list[str] = []
        served = self.model.served(self.features.transform(frame, notes))
        threshold = self._threshold()
        flagged = float(np.mean(served >= threshold))
        metrics: dict[str, Any] = {"rows": len(frame), "flagged_share": flagged}
        if notes:
            metrics["notes"] = notes
        if label_column is not None:
            labels = self._labels(label_column)
            known = ~np.isnan(labels)
            metrics.update(ranking_metrics(labels[known], served[known]))
            at = precision_recall_at(labels[known], served[known], threshold)
            at["flagged_share_labelled"] = at.pop("flagged_share")
            metrics.update(at)
        return metrics

    # ---- schema, load, contract ------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        specs = self.features.encoder.specs if self.features is not None else []
        return {
            "kind": "table",
            "columns": {s["name"]: s["kind"] for s in specs},
            "label_column": self.target,
        }

    def output_schema(self) -> dict[str, Any]:
        fields = {
            "score": "float: 0 = a typical training row, 1 = their 90th percentile",
            "percentile": "float: share of training rows scoring at or below, in %",
            "rank": "int: 1 = the most unusual row of this batch",
            "flagged": "bool: at or above the run's threshold",
            "reasons": "str: the columns that contributed most, with their shares",
        }
        if self.calibrator is not None:
            fields["probability"] = "float: calibrated probability of being an anomaly"
        return {"kind": "anomaly-score", "fields": fields, "threshold": self.threshold}

    @classmethod
    def load(cls, run: RunFolder) -> AnomalyDetection:
        from layerwise.runs import folder as names
        from layerwise.tasks.anomaly_detection.features import AnomalyFeatures
        from layerwise.tasks.anomaly_detection.model import AnomalyModel
        from layerwise.tasks.anomaly_detection.scoring import Calibrator

        stored = run.read_json(names.PREPROCESS)
        task = cls(verbose=False)
        task.target, task.positive = stored["target"], stored["positive"]
        task.features = AnomalyFeatures.from_json(stored["features"])
        task.model = AnomalyModel.load(run, stored["model"])
        task.threshold = stored["threshold"]
        if stored.get("calibrator"):
            task.calibrator = Calibrator(**stored["calibrator"])
        return task

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.anomaly_detection.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.tasks.anomaly_detection.sources import planted_outliers

        frame = planted_outliers(n=300, n_outliers=12, seed=seed)
        quick = {"epochs": 5}
        options = {"candidate_params": {"autoencoder": quick, "deep-svdd": quick}}
        return frame.drop(columns="is_anomaly"), options, frame.drop(columns="is_anomaly").head(20)
