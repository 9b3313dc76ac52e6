"""``--stream``: a table larger than memory trained on in bounded memory.

:meth:`TabularTask.fit <layerwise.tasks.tabular.task.TabularTask.fit>` comes here when
streaming is asked for, or when a Parquet or CSV file would decode to more than a quarter of
the machine's memory (:func:`~layerwise.data.table_batches.should_stream`). The file is read a
batch at a time, twice:

1. :func:`~layerwise.data.table_stream.scan`: the statistics that need every row (row and
   class counts, missing cells, category counts) and seeded uniform samples: the test rows
   (each row is one with chance ``test_size``, by a hash of its position; 200,000 of them at
   most are scored), the bake-off's held-out rows (20% of the training rows, 100,000 at most)
   and the classical candidates' sample (200,000 training rows at most, or 256 MB).
   The profile, the advisor's plan and the encoder are made from these.
2. :func:`~layerwise.tasks.tabular.stream_rows.encoded_rows`: the training rows encoded into
   a record file in ``<output dir>/.cache`` (reused by a later run on the unchanged file).

The MLP trains on every training row read from there; the classical candidates fit on the
sample, and decision.md says so. Every candidate is validated on the same held-out rows (one
holdout, no refit: the fitted models are served) and tested on the same test rows. The run
folder written is an ordinary tabular run: predict, serve and export work on it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data import table_batches, table_stream
from layerwise.errors import ConfigError, DataError

POSITION = "__position__"


def streamed_path(task: Any, data: Any) -> tuple[Path | None, str | None]:
    """The file to stream (None: the in-memory path) and the note when its size decided. A
    DataFrame read from a file (``attrs["source"]``: how ``layerwise train`` infers the task)
    streams from that file when asked to."""
    asked = task.option("stream")
    source = data
    if isinstance(data, pd.DataFrame) and asked:
        source = data.attrs.get("source", data)
    streams, note = table_batches.should_stream(asked, source)
    if not streams:
        return None, None
    path = table_batches.streamable(source)
    if path is None:
        raise ConfigError(
            "--stream reads Parquet and CSV/TSV files a batch at a time; this data is "
            f"{'a ' + type(source).__name__ if not isinstance(source, (str, Path)) else repr(str(source))}.",
            "Give the path of a .parquet or .csv file, or leave --stream out.",
        )
    for option, flag in (("tune", "--tune"), ("model_file", "--model")):
        if task.option(option) is not None:
            raise ConfigError(f"{flag} is not available with --stream yet.",
                              f"Leave {flag} or --stream out.")  # fmt: skip
    return path, note


def fit_streamed(task: Any, path: Path, target: str | None, note: str | None) -> Any:
    """The streamed fit (see the module docstring); the Run, or None on a rank other than 0."""
    from layerwise.core import advisor, selection
    from layerwise.engine.distributed import current_world
    from layerwise.runs.writer import open_run_folder
    from layerwise.tasks.tabular.candidates import CANDIDATES
    from layerwise.tasks.tabular.ensemble import complexities
    from layerwise.tasks.tabular.fits import follow, release
    from layerwise.tasks.tabular.outputs import write_run

    started = time.perf_counter()
    limit = task.option("time_limit")
    task._deadline = None if limit is None else started + float(limit)
    if not target:
        from layerwise.errors import no_target

        header = next(table_batches.batches(path, path.name, batch_rows=1), pd.DataFrame())
        raise no_target(header.columns)
    task.target = target
    scan, test_scan = _scans(task, path, target)
    profile, plan = _profile_and_plan(task, scan, note)
    world = current_world()
    run_folder = open_run_folder(task, str(path)) if world.main else None

    from layerwise.tasks.tabular.stream_rows import StreamedRows, encoded_rows, fit_encoder

    task.encoder = encoder = fit_encoder(profile.columns, scan)
    profile.notes += encoder.notes
    counts = {c: n[0] for c, n in scan.classes.items() if n[0]}
    task._set_labels(pd.Series(list(counts), dtype=object))
    how = (task.option("seed"), scan.test_share, task.kind)
    cache = Path(task.option("output_dir")) / ".cache"
    records, described, cache_notes = encoded_rows(path, scan, encoder, task._codes, cache, how)
    plan.notes += cache_notes
    sample, holdout = (scan.sample.drop(columns=POSITION), scan.holdout.drop(columns=POSITION))
    test_df = test_scan.test.drop(columns=POSITION)
    table, y = encoder.transform(sample), task._codes(sample[target])
    per_class = None
    if plan.class_weights and task.kind == "classification":
        rows_a_class = np.array([counts[c] for c in task.classes], dtype=np.float64)
        per_class = rows_a_class.sum() / (len(task.classes) * np.maximum(rows_a_class, 1))
    weights = None if per_class is None else per_class[y]
    streamed = StreamedRows(records, table, described["y_mean"], described["y_std"], per_class)
    if not world.main:
        follow(task, (streamed, None, None))
        return None

    task._plan_metric = plan.metric
    val_table, y_val = encoder.transform(holdout), task._codes(holdout[target])
    fitted: dict[str, Any] = {}
    rows = _bake_off(task, plan, (table, y, weights), streamed, (val_table, y_val), fitted)
    release()
    chosen, reason = selection.choose(rows, plan, complexities(rows))
    task.say(f"[bold green]chosen[/bold green] {reason}")
    trained = time.perf_counter() - started
    _test(task, rows, fitted, test_df)
    plan.notes.append(_what_trained_on(task, scan, test_scan, rows, len(records), len(table)))
    task.model = fitted[chosen]
    families = {r["candidate"]: CANDIDATES.get(r["candidate"]).family for r in rows}
    decision = advisor.decision_markdown(profile, plan, rows, chosen, reason, families)
    run = write_run(task, run_folder, frame=test_df, plan=plan, rows=rows, chosen=chosen,
                    fitted=fitted, decision=decision, profile=profile,
                    seconds=(trained, time.perf_counter() - started))  # fmt: skip
    task._run_dir = run.path
    return run


def _scans(task: Any, path: Path, target: str) -> tuple[Any, Any]:
    """The training file's scan and the test rows' (the same scan, or the test file's)."""
    size = task.option("test_size")
    given = task.option("test_data")
    share = 0.0 if given is not None else _test_share(size, path)
    seed = task.option("seed")
    scan = table_stream.scan(path, target, task.kind, seed=seed, test_share=share)
    if scan.rows < 10:
        raise DataError(
            f"Only {scan.rows} labelled rows: too few to train and test.",
            "Provide at least 10 rows (hundreds for a meaningful result).",
        )
    test_scan = scan
    if given is not None:
        test_path = table_batches.streamable(given)
        if test_path is None:
            raise ConfigError("With --stream the test data is streamed too: give a .parquet or "
                              ".csv path.", "Or leave --test-data out (a share is held out).")  # fmt: skip
        test_scan = table_stream.scan(test_path, target, task.kind, seed=seed, test_share=1.0)
    return scan, test_scan


def _test_share(size: Any, path: Path) -> float:
    """``test_size`` as each row's chance of being a test row (a count: over the rows the
    Parquet footer gives)."""
    if isinstance(size, float) and 0.0 < size < 1.0:
        return size
    if isinstance(size, int) and size >= 1 and path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return min(0.5, size / max(pq.ParquetFile(path).metadata.num_rows, 1))
    raise ConfigError(f"test_size={size!r} does not work with --stream.",
                      "Give test_size as a fraction between 0 and 1, e.g. 0.2.")  # fmt: skip


def _profile_and_plan(task: Any, scan: Any, note: str | None) -> tuple[Any, Any]:
    """The profile (column kinds from the kept rows, counts from every row) and the plan:
    one holdout, no ensemble."""
    from layerwise.core import advisor
    from layerwise.data import tabular
    from layerwise.data.profile import profile_table, usable_columns

    target, where = scan.target, f"'{scan.label}'"
    rows = pd.concat([scan.sample, scan.holdout, scan.test], ignore_index=True)
    rows = rows.sort_values(POSITION, kind="stable").drop(columns=POSITION)
    notes = list(scan.notes)
    if task.kind == "classification":
        totals = pd.Series({c: sum(n) for c, n in scan.classes.items()}, dtype="int64")
        totals = totals.sort_values(ascending=False, kind="stable")
        tabular.check_class_counts(totals, target, where, notes)
        named = totals.groupby(totals.index.map(str)).sum()
        y = rows[target]
        numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
        tabular.check_trainable_counts(named, target, scan.label, numeric)
    profile = profile_table(rows, target, task.kind)
    for name, info in profile.columns.items():
        info.missing = scan.missing.get(name, 0) / max(scan.rows, 1)
        if name in scan.categories:
            info.n_unique = len(scan.categories[name])
    cells = scan.rows * len(profile.columns)
    missing = sum(scan.missing.get(n, 0) for n in profile.columns)
    profile.missing_fraction = missing / cells if cells else 0.0
    profile.n_rows = scan.rows
    if task.kind == "classification":
        totals = np.array([sum(n) for n in scan.classes.values()], dtype=np.float64)
        profile.n_classes = len(totals)
        profile.minority_fraction = float(totals.min() / totals.sum())
        profile.imbalance_ratio = float(totals.max() / totals.min())
    usable_columns(profile, scan.label)
    kept = len(scan.sample) + len(scan.holdout) + len(scan.test)
    if kept < scan.rows:
        notes.append(f"column kinds, yes/no values and date parts from {kept:,} sampled rows; "
                     "counts, categories and numeric statistics from every row")  # fmt: skip
    profile.notes = [*([note] if note else []), *notes, *profile.notes]
    plan = advisor.plan(profile, task.option("interpretable"), task.option("time_limit"),
                        task._candidate_names(), task._metric())  # fmt: skip
    plan.candidates = [n for n in plan.candidates if n not in ("ensemble", "yaml")]
    plan.n_splits, plan.ensemble = 0, False
    plan.recommendation = plan.recommendation.replace(" and their ensemble.", ".")
    for rule in plan.rules:
        rule.fired = rule.fired and rule.name != "ensemble"
    plan.protocol = f"holdout ({len(scan.holdout):,} training rows, the same for every candidate)"
    for line in profile.summary_lines():
        task.say(f"[dim]{line}[/dim]")
    for rule in plan.fired():
        task.say(f"[cyan]rule[/cyan] {rule.name}: {rule.says}")
    return profile, plan


def _bake_off(task: Any, plan: Any, data: tuple, streamed: Any, val: tuple,
              fitted: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
    """Every candidate fitted once (the MLP on the streamed rows, the rest on the sample) and
    scored on the same held-out rows, cheapest first under a time limit."""
    from layerwise.core import fold_bakeoff
    from layerwise.tasks.tabular.candidates import CANDIDATES
    from layerwise.tasks.tabular.fits import fit_candidate

    val_table, y_val = val
    task.say(f"Bake-off: {', '.join(plan.candidates)} by {plan.protocol}")

    def fit_and_score(name: str, _train: np.ndarray, _val: np.ndarray) -> float:
        if name == "mlp":
            extra = {}
            given = task.option("candidate_params").get("mlp", {})
            if task._deadline is not None and "time_limit" not in given:
                extra["time_limit"] = max(1.0, 0.8 * (task._deadline - time.perf_counter()))
            model = fit_candidate(task, name, (streamed, None, None), **extra)
        else:
            model = fit_candidate(task, name, data)
        fitted[name] = model
        output = model.predict(val_table, task.encoder)
        return task._score(y_val, output).get(plan.metric, np.nan)

    folds = [(np.arange(len(data[1])), np.arange(len(y_val)))]
    order = sorted(plan.candidates, key=lambda n: CANDIDATES.get(n).complexity)
    return fold_bakeoff.bake_off(plan, fit_and_score, folds, task.option("time_limit"), task.say,
                                 deadline=task._deadline, run_order=order,
                                 bagged=set(plan.candidates))  # fmt: skip


def _test(task: Any, rows: list[dict], fitted: dict[str, Any], test_df: pd.DataFrame) -> None:
    """Each fitted candidate scored on the test rows (no refit: the bake-off's models serve)."""
    from layerwise.runs.folder import RunFolder

    table, y = task.encoder.transform(test_df), task._codes(test_df[task.target])
    known = y >= 0 if task.kind == "classification" else np.isfinite(y)
    for row in rows:
        if "skipped" in row:
            continue
        model = fitted[row["candidate"]]
        t0 = time.perf_counter()
        output = model.predict(table, task.encoder)
        row["predict_us_per_row"] = 1e6 * (time.perf_counter() - t0) / max(len(y), 1)
        row["final_fit_seconds"] = row["fit_seconds"]
        row["test"] = task._score(y[known], output[known]) if known.any() else {}
        with tempfile.TemporaryDirectory() as tmp:
            model.save(RunFolder(tmp))
            row["size_bytes"] = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())


def _what_trained_on(task: Any, scan: Any, test_scan: Any, rows: list[dict], on_disk: int,
                     sampled: int) -> str:  # fmt: skip
    """The sentence decision.md gives: which rows each candidate trained, validated, tested on."""
    from layerwise.tasks.tabular.candidates import CANDIDATES

    names = [r["candidate"] for r in rows if "skipped" not in r]
    described = CANDIDATES.describe()
    classical = [f"{n} ({described[n]})" if described.get(n) else n for n in names if n != "mlp"]
    training = scan.training_rows - len(scan.holdout)
    parts = [f"Streamed from '{scan.label}' ({scan.rows:,} labelled rows read by batches)."]
    if "mlp" in names:
        parts.append(f"The MLP trained on all {on_disk:,} training rows, read from disk.")
    if classical:
        whole = sampled >= training
        parts.append(f"{', '.join(classical)} trained on "
                     + (f"all {sampled:,} training rows." if whole else
                        f"a {sampled:,}-row uniform sample of the {training:,} training rows."))  # fmt: skip
    tested = len(test_scan.test)
    total = test_scan.test_rows
    parts.append(f"Every candidate was validated on the same {len(scan.holdout):,} held-out "
                 f"rows and tested on {tested:,}" + (f" of the {total:,}" if tested < total else "")
                 + " test rows; no model was refitted.")  # fmt: skip
    return " ".join(parts)
