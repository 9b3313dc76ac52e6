"""What the two tabular tasks share: read, profile, plan, bake off, write the run folder.

``TabularClassification`` and ``TabularRegression`` (one file each) set ``kind`` and their
contract example; everything else lives here.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.candidate import Candidate
from layerwise.core.task import RUN_DEFAULTS, Run, Task
from layerwise.errors import ConfigError, DataError, closest, missing_column, no_target
from layerwise.metrics import classification_metrics, regression_metrics
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.bagging import load_model
from layerwise.tasks.tabular.bakeoff import bake_off, final_fits
from layerwise.tasks.tabular.candidates import CANDIDATES
from layerwise.tasks.tabular.ensemble import complexities

DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,
    "test_data": None,
    "test_size": 0.2,
    "interpretable": False,
    "model_file": None,
    "metric": None,  # what the run is judged and chosen by; None: the advisor's choice
    "tune": None,  # trials of a search of the chosen family after the bake-off (tuning.py)
    "bag": True,  # k-fold: a classical candidate serves the mean of its fold models instead
    # of a refit on every row (bagging.py); False: one refitted model each
    # True, False, or None to stream a Parquet/CSV file over a quarter of the memory (stream.py)
    "stream": None,
}


class TabularTask(Task):
    """Shared implementation of tabular classification and regression."""

    kind: ClassVar[str]
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    request_kind: ClassVar[str | None] = "rows"  # served: see layerwise.serve.requests
    joinable_requests: ClassVar[bool] = True

    batch_predicts: ClassVar[bool] = True  # layerwise predict --batch-size
    data_parallel: ClassVar[bool] = True  # the deep candidates under DDP, the rest on rank 0

    def __init__(self, **options: Any):
        self._check_options(options)
        super().__init__(**options)
        self.target: str | None = None
        self.classes: list[Any] = []
        self.encoder: Any = None
        self.model: Candidate | None = None
        self.objective = "regression"
        self._deadline: float | None = None
        self._fold_models: dict[str, list[Candidate]] = {}  # bagged candidates' fold models
        self._plan_metric: str | None = None  # what the run is judged by (some candidates use it)
        self._run_dir: Path | None = None  # the run folder written or loaded

    # ---- options and messages ---------------------------------------------------------
    def _check_options(self, options: dict[str, Any]) -> None:
        self.check_option_names(options)
        selectable = [
            n
            for n in CANDIDATES.names()
            if n not in ("ensemble", "yaml") and not n.endswith("-tuned")
        ]  # derived, --model, --tune
        for name in options.get("candidates") or []:
            if name not in selectable:
                guess = closest(name, selectable)
                raise ConfigError(
                    f"Unknown candidate '{name}'.",
                    (f"Did you mean '{guess}'? " if guess else "")
                    + f"Valid candidates: {', '.join(selectable)}.",
                )

    # ---- fit ---------------------------------------------------------------------------
    def fit(self, data: Any, target: str | None = None, **options: Any) -> Run:
        """Profile, plan, bake off every candidate, refit, and write the run folder. In a world
        of several processes every rank trains the deep candidates together and rank 0 alone
        the rest (:mod:`.fits`); the other ranks return None."""
        from layerwise.core import advisor, selection
        from layerwise.data.tabular_encoder import TabularEncoder
        from layerwise.engine.distributed import current_world
        from layerwise.runs.writer import open_run_folder
        from layerwise.tasks.tabular.fits import follow, release
        from layerwise.tasks.tabular.outputs import write_run

        self._check_options(options)
        self.options = {**self.options, **options}
        if self.option("tune") is not None:  # before any data is read: a bad N, no optuna
            from layerwise.tasks.tabular.tuning import check_tune

            check_tune(self.option("tune"))
        from layerwise.tasks.tabular.stream import fit_streamed, streamed_path

        path, note = streamed_path(self, data)
        if path is not None:  # by batches, in bounded memory
            return fit_streamed(self, path, target, note)
        started = time.perf_counter()
        limit = self.option("time_limit")
        self._deadline = None if limit is None else started + float(limit)
        frame, profile, plan = self.profile_and_plan(data, target)
        train_df, test_df = self._split(frame)
        # several processes: rank 0 writes the run, the others fit the deep models it orders
        world = current_world()
        # after the data checks: bad input leaves no folder
        run_folder = open_run_folder(self, data) if world.main else None

        self.encoder = TabularEncoder(profile.columns).fit(train_df)
        profile.notes += self.encoder.notes  # e.g. categories capped: decision.md says so
        self._set_labels(train_df[self.target])
        y_train, y_test = self._codes(train_df[self.target]), self._codes(test_df[self.target])
        table, test_table = self.encoder.transform(train_df), self.encoder.transform(test_df)
        weights = self._class_weights(y_train) if plan.class_weights else None
        if not world.main:  # its share of the deep models trained, the rest is rank 0's
            follow(self, (table, y_train, weights))
            return None  # type: ignore[return-value]

        self._plan_metric = plan.metric
        rows = bake_off(self, plan, table, y_train, weights)
        tuning = None
        if self.option("tune") is not None:  # --tune N: the chosen family searched (tuning.py)
            from layerwise.tasks.tabular.tuning import tune

            rows, tuning = tune(self, plan, rows, (table, y_train, weights), run_folder)
        names = [r["candidate"] for r in rows]
        chosen, reason = selection.choose(rows, plan, complexities(rows))
        self.say(f"[bold green]chosen[/bold green] {reason}")
        checkpoints = run_folder.file("checkpoints")
        measured = time.perf_counter() - started
        fitted = final_fits(self, rows, table, y_train, weights, (test_table, y_test), checkpoints)
        release()  # the last deep fit is done: the other ranks return
        # to a trained model: the bake-off and the refits, not the test scoring or the report
        trained = measured + sum(r.get("refit_seconds", 0.0) for r in rows)
        bags = sorted(r["candidate"] for r in rows if "bagged" in r)
        if bags:
            plan.notes.append(
                f"Bagged: {', '.join(bags)} serve the mean of the "
                f"{len(self._fold_models[bags[0]])} models their cross-validation trained "
                "(each on all rows but its fold) instead of a refit on every row; their fit time "
                "is the folds' total. The deep candidates are refitted."
            )
        self.model = fitted[chosen]
        families = {n: CANDIDATES.get(n).family for n in names}
        decision = advisor.decision_markdown(profile, plan, rows, chosen, reason, families)
        if tuning is not None:
            from layerwise.tasks.tabular.tuning_report import tuning_markdown

            decision += tuning_markdown(tuning, chosen)
        run = write_run(
            self,
            run_folder,
            frame=test_df,
            plan=plan,
            rows=rows,
            chosen=chosen,
            fitted=fitted,
            decision=decision,
            profile=profile,
            seconds=(trained, time.perf_counter() - started),
        )
        self._run_dir = run.path
        return run

    def profile_and_plan(self, data: Any, target: str | None) -> tuple[pd.DataFrame, Any, Any]:
        """Read and check the data, profile it, and let the advisor plan the bake-off.

        This is all ``layerwise advise`` does: no model is trained."""
        from layerwise.core import advisor
        from layerwise.data.profile import profile_table, usable_columns
        from layerwise.data.tabular import check_trainable_classes, prepare_target, read_table

        frame = read_table(data)
        if not target:
            raise no_target(frame.columns)
        frame, kind, notes = prepare_target(frame, target, self.kind)
        self.target = target
        if kind == "classification":  # refused here, before any folder or training
            check_trainable_classes(frame, target)
        profile = profile_table(frame, target, kind)
        usable_columns(profile, str(frame.attrs.get("name", "the data")))
        profile.notes = [*frame.attrs.get("notes", []), *notes, *profile.notes]
        plan = advisor.plan(
            profile,
            self.option("interpretable"),
            self.option("time_limit"),
            self._candidate_names(),
            self._metric(),
        )
        for line in profile.summary_lines():
            self.say(f"[dim]{line}[/dim]")
        for rule in plan.fired():
            self.say(f"[cyan]rule[/cyan] {rule.name}: {rule.says}")
        return frame, profile, plan

    def _candidate_names(self) -> list[str] | None:
        """The candidates asked for; with ``model_file`` the user's network takes the MLP's place."""
        names = self.option("candidates")
        if self.option("model_file") is None:
            return names
        from layerwise.tasks.tabular.yaml_model import read_model_file

        self._model_config = read_model_file(self.option("model_file"))  # fails early on a typo
        if not names:
            from layerwise.core.advisor import default_tabular_candidates

            names = default_tabular_candidates()[0]
        names = [n for n in names if n != "mlp"]
        return [*names, "yaml"]

    def _split(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Training and test rows: the user's test table, or a seeded (stratified) holdout."""
        from sklearn.model_selection import train_test_split

        from layerwise.data.tabular import prepare_target, read_table

        if self.option("test_data") is not None:
            test_df, _, _ = prepare_target(
                read_table(self.option("test_data")), self.target, self.kind
            )
            return frame.reset_index(drop=True), test_df.reset_index(drop=True)
        y = frame[self.target].astype(str)
        counts = y.value_counts()
        size = self.option("test_size")
        if len(frame) < 10:
            raise DataError(
                f"Only {len(frame)} labelled rows: too few to train and test.",
                "Provide at least 10 rows (hundreds for a meaningful result).",
            )
        # stratified when every class can be on both sides (scikit-learn refuses otherwise)
        n_test = int(np.ceil(size * len(frame))) if isinstance(size, float) else int(size)
        fits = min(n_test, len(frame) - n_test) >= len(counts)
        stratify = y if self.kind == "classification" and counts.min() >= 2 and fits else None
        train_df, test_df = train_test_split(
            frame, test_size=size, random_state=self.option("seed"), stratify=stratify
        )
        return train_df.reset_index(drop=True), test_df.reset_index(drop=True)

    def _metric(self) -> str | None:
        """The ``metric`` option, checked against this kind of table's metrics."""
        from layerwise.core.advisor import TABLE_METRICS

        given = self.option("metric")
        if given is None:
            return None
        name = str(given).strip().lower().replace("-", "_")
        known = TABLE_METRICS[self.kind]
        if name not in known:
            raise ConfigError(
                f"metric={given!r} is not a {self.kind} metric.",
                f"Use one of: {', '.join(m.replace('_', '-') for m in known)}.",
            )
        return name

    def _set_labels(self, y: pd.Series) -> None:
        if self.kind == "classification":
            values = pd.unique(y)
            self.classes = sorted((v.item() if hasattr(v, "item") else v for v in values), key=str)
            self.objective = "binary" if len(self.classes) == 2 else "multiclass"
        else:
            self.classes, self.objective = [], "regression"

    def _codes(self, y: pd.Series) -> np.ndarray:
        """Class codes 0..k-1 (-1 for a label unseen in training), or float targets."""
        if self.kind != "classification":
            return pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
        lookup = {str(c): i for i, c in enumerate(self.classes)}
        return np.array([lookup.get(str(v), -1) for v in y], dtype=np.int64)

    def _class_weights(self, y: np.ndarray) -> np.ndarray:
        counts = np.bincount(y, minlength=len(self.classes)).astype(np.float64)
        per_class = len(y) / (len(self.classes) * np.maximum(counts, 1))
        return per_class[y]

    def _candidate(
        self, name: str, params: dict[str, Any] | None = None, **extra: Any
    ) -> Candidate:
        """Candidate ``name``, unfitted: with ``params`` as given (rank 0's, in a world of
        several processes), else those :func:`.fits.candidate_params` makes with ``extra``."""
        from layerwise.tasks.tabular.fits import candidate_params

        params = candidate_params(self, name, **extra) if params is None else dict(params)
        if name == "yaml":  # the user's network, read from model_file on every rank
            params.update(config=self._model_config, source=str(self.option("model_file")))
        return CANDIDATES.get(name)(
            self.objective, len(self.classes), self.option("seed"), **params
        )

    def _score(self, y: np.ndarray, output: np.ndarray) -> dict[str, float]:
        if self.kind != "classification":
            return regression_metrics(y, output)
        with warnings.catch_warnings():  # a fold or a test set lacking some classes is expected
            warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
            return classification_metrics(y, output)

    # ---- predict / evaluate -------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.model is None or self.encoder is None:
            raise ConfigError(
                f"This {self.name} task has not been fitted.",
                "Call fit(...) first, or layerwise.load(run_folder).",
            )

    def predict_output(self, inputs: Any) -> tuple[np.ndarray, pd.DataFrame, list[str]]:
        """Raw model output for ``inputs``, the frame read, and notes (extra columns ignored, ...)."""
        from layerwise.data.tabular import read_table

        self._require_fitted()
        if (
            isinstance(inputs, dict)
            and inputs
            and not any(
                isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in inputs.values()
            )
        ):
            inputs = pd.DataFrame([inputs])
        frame = read_table(inputs)
        notes = list(frame.attrs.get("notes", [])) + self.encoder.check_columns(
            frame, ignore=[self.target]
        )
        table = self.encoder.transform(frame)
        return self.model.predict(table, self.encoder), frame, notes + table.notes

    def predict(self, inputs: Any) -> pd.DataFrame:
        """A frame with ``prediction`` (and ``probability_<class>`` per class for classification).

        Accepts a path, a DataFrame, a dict of columns or one record as a dict.
        """
        output, frame, notes = self.predict_output(inputs)
        if self.kind == "classification":  # built at once: column by column is slow in pandas
            columns = {"prediction": [self.classes[i] for i in output.argmax(axis=1)]}
            columns.update({f"probability_{c}": output[:, i] for i, c in enumerate(self.classes)})
        else:
            columns = {"prediction": output}
        result = pd.DataFrame(columns, index=frame.index)
        result.attrs["notes"] = notes
        return result

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Metrics of the fitted model on labelled data (the target column must be present)."""
        from layerwise.data.tabular import prepare_target, read_table

        self._require_fitted()
        frame = read_table(data)
        if self.target not in frame.columns:
            raise missing_column(self.target, frame.columns, "Target column", "the evaluation data")
        frame, _, _ = prepare_target(frame, self.target, self.kind, training=False)
        notes = list(frame.attrs.get("notes", []))  # reading's and the target's
        y = self._codes(frame[self.target])
        features = frame.drop(columns=[self.target])
        features.attrs = {"name": frame.attrs.get("name", "the data"), "notes": []}  # said once
        output, _, more = self.predict_output(features)
        known = y >= 0 if self.kind == "classification" else np.isfinite(y)
        if self.kind == "classification" and not known.any():
            raise DataError(
                f"No '{self.target}' label in '{frame.attrs.get('name', 'the data')}' is a "
                "class the model was trained on.",
                "Check the target column; the model knows " + ", ".join(map(repr, self.classes[:8]))
                + (" ..." if len(self.classes) > 8 else "") + ".",
            )  # fmt: skip
        if self.kind == "classification" and not known.all():
            notes.append(
                f"{int((~known).sum())} rows have labels not seen in training; they are left out."
            )
        metrics: dict[str, Any] = self._score(y[known], output[known])
        metrics["rows"] = int(known.sum())
        metrics["notes"] = notes + more
        return metrics

    # ---- export ------------------------------------------------------------------------------
    def onnx_module(self) -> tuple[Any, tuple, list[str], list[str]]:
        """For ``layerwise export``: the MLP (softmax or de-standardised value in the graph) on
        encoded inputs; a ConfigError naming the run's model when it is not the MLP."""
        from layerwise.tasks.tabular.onnx_export import tabular_module

        self._require_fitted()
        return tabular_module(self, self._run_dir or "")

    def onnx_description(self) -> tuple[list[dict], dict, str]:
        from layerwise.tasks.tabular.onnx_export import tabular_description

        return tabular_description(self)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.tabular.tuning_report import SECTIONS

        return SECTIONS

    # ---- schema and loading --------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        self._require_fitted()
        return {
            "type": "table",
            "columns": [
                {"name": name, "kind": info.kind}
                for name, info in self.encoder.columns.items()
                if name in self.encoder.feature_columns
            ],
        }

    def output_schema(self) -> dict[str, Any]:
        if self.kind == "classification":
            return {
                "type": "label",
                "target": self.target,
                "classes": self.classes,
                "fields": ["prediction"] + [f"probability_{c}" for c in self.classes],
            }
        return {"type": "value", "target": self.target, "fields": ["prediction"]}

    @classmethod
    def load(cls, run: RunFolder) -> TabularTask:
        from layerwise.data.tabular_encoder import TabularEncoder

        stored = run.read_json("preprocess.json")
        task = cls(
            **{
                k: v
                for k, v in run.read_yaml("config.yaml").get("options", {}).items()
                if k in DEFAULTS
            }
        )
        task.target, task.classes = stored["target"], stored["classes"]
        task.objective = stored["model"]["objective"]
        task.encoder = TabularEncoder.from_json(stored["encoder"])
        task.model = load_model(stored["model"]["candidate"], run, stored["model"])
        task._run_dir = run.path
        return task
