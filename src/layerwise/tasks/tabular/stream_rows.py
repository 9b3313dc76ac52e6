"""A streamed table's training rows, encoded once into a record file the MLP reads from.

The encoder is fitted from the streamed statistics (:mod:`layerwise.data.table_stream`): its
categories from every training row's counts, its column kinds, yes/no maps and date parts
from the sample. A second pass (:func:`encoded_rows`) encodes the training rows a batch at a
time into ``<output dir>/.cache/table-<fingerprint>.f4`` (float32 records: the raw numeric
features, NaN where missing, then the category codes, then the target) and computes the
numeric columns' mean, standard deviation and missing cells on every training row as the
in-memory encoder does. The cache's description (``.json``, written last) keeps them, so a
later run on the same unchanged file reuses both; a run killed while writing leaves no
description, and the next run writes the cache again. In a world of several processes the
first process of each machine writes it, the others wait (:mod:`layerwise.data.disk_cache`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.data import disk_cache, table_batches, table_stream
from layerwise.data.records import Records, RecordWriter
from layerwise.data.tabular_encoder import MAX_CATEGORIES, OTHER, EncodedTable, TabularEncoder

FORMAT = 1  # the cache's layout; a change makes new fingerprints
EARLY_STOP_ROWS = 20_000  # the MLP's early-stopping rows, at most (15% of its rows below that)
STREAM_BATCH = 1024  # the MLP's batch on streamed rows [256 in memory]
EPOCH_STEPS = 1000  # steps between validations: a pass over millions of rows is too long


def fit_encoder(columns: dict[str, Any], scan: Any) -> TabularEncoder:
    """The encoder of a streamed table: fitted on the sample, its categories from every
    training row's counts (:attr:`~layerwise.data.table_stream.Scan.categories`)."""
    rows = pd.concat([scan.sample, scan.holdout], ignore_index=True)
    encoder = TabularEncoder(columns).fit(rows)
    encoder.notes = []
    for spec in encoder.specs:
        if spec["kind"] != "categorical":
            continue
        name = spec["name"]
        counts = scan.categories.get(name, {})
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        spec["categories"] = [k for k, _ in ordered[:MAX_CATEGORIES]]
        spec["other"] = len(ordered) > MAX_CATEGORIES
        if spec["other"]:
            many = f"more than {len(ordered)}" if name in scan.overflowed else f"{len(ordered)}"
            encoder.notes.append(
                f"column '{name}' has {many} categories: kept the {MAX_CATEGORIES} most "
                f"frequent, the rest share one '{OTHER}' code"
            )
    return encoder


@dataclass
class StreamedRows:
    """The MLP's training rows on disk, in an encoded table's place (``streamed``): records
    ``[n, d_numeric + d_categorical + 1]`` and what the network's shapes are made from."""

    records: Records
    sample: EncodedTable  # the sample's rows: the network's shapes and numeric bin edges
    y_mean: float = 0.0
    y_std: float = 1.0
    class_weight: np.ndarray | None = None
    streamed: ClassVar[bool] = True

    def __len__(self) -> int:
        return len(self.records)

    def fit_mlp(self, model: Any, encoder: TabularEncoder) -> None:
        """What :meth:`MLPCandidate.fit` does with these rows: :func:`fit_streamed_mlp`."""
        fit_streamed_mlp(model, self, encoder)

    def tensors(self, block: np.ndarray, encoder: TabularEncoder, classifier: bool) -> tuple:
        """Records as the MLP's inputs: standardised numbers, category codes, targets."""
        import torch

        d, k = self.sample.numeric.shape[1], self.sample.categorical.shape[1]
        table = EncodedTable(block[:, :d], block[:, d : d + k].astype(np.int64), [], [], [])
        numeric = torch.from_numpy(encoder.standardized(table))
        categorical = torch.from_numpy(table.categorical)
        y = block[:, d + k]
        target = (torch.from_numpy(y.astype(np.int64)) if classifier else
                  torch.from_numpy(((y - self.y_mean) / self.y_std).astype(np.float32)))  # fmt: skip
        return numeric, categorical, target


def encoded_rows(path: Path, scan: Any, encoder: TabularEncoder, targets: Any,
                 cache: Path, how: tuple) -> tuple[Records, dict[str, Any], list[str]]:  # fmt: skip
    """The training rows but the holdout's, encoded into the cache (or the one an earlier run
    made); the encoder's mean, std and indicators set from every training row. ``targets``
    turns a batch's target column into numbers (class codes or values); ``how``: what else
    names the cache (seed, test share, kind). Returns the records, the description, notes."""
    specs = json.dumps([encoder.columns[n].kind for n in encoder.feature_columns] + encoder.specs,
                       sort_keys=True, default=str)  # fmt: skip
    key = disk_cache.fingerprint([path], "table", FORMAT, *how, specs, len(scan.holdout))
    data, about = cache / f"table-{key}.f4", cache / f"table-{key}.json"
    width = len(encoder.numeric_names) + len(encoder.categorical_specs) + 1
    found = _cached(data, about, width)
    if found is None and not disk_cache.writes_here():
        found = disk_cache.wait_for(lambda: _cached(data, about, width), f"The table cache {data}")
    notes = []
    if found is None:
        described = _write(path, scan, encoder, targets, data, width, how)
        disk_cache.publish(about, described)
        found = (Records(data, (described["rows"], width), np.float32), described)
        notes.append(f"encoded {described['rows']:,} training rows once into {data} "
                     f"({data.stat().st_size / 2**30:.2f} GiB); the MLP reads its batches from "
                     "there")  # fmt: skip
    else:
        notes.append(f"read {len(found[0]):,} encoded training rows from the cache {data} "
                     "(made by an earlier run on the same file)")  # fmt: skip
    records, described = found
    encoder.mean, encoder.std = described["mean"], described["std"]
    encoder.indicators = described["indicators"]
    return records, described, notes


def _cached(data: Path, about: Path, width: int) -> tuple[Records, dict] | None:
    described = disk_cache.read_description(about)
    if described is None:
        return None
    try:
        if described["format"] != FORMAT or int(described["width"]) != width:
            return None
        records = Records(data, (int(described["rows"]), width), np.float32)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return records, described


def _write(path: Path, scan: Any, encoder: TabularEncoder, targets: Any, data: Path,
           width: int, how: tuple) -> dict[str, Any]:  # fmt: skip
    """Pass two: encode the training rows a batch at a time; the numeric columns' moments
    (Chan's merge of each batch's) over every training row, the holdout's included."""
    seed, share, kind = how
    target = scan.target
    holdout = np.sort(scan.holdout["__position__"].to_numpy())
    d = len(encoder.numeric_names)
    count, mean, m2 = np.zeros(d), np.zeros(d), np.zeros(d)
    gaps = np.zeros(d, dtype=bool)
    y_sum = y_squares = 0.0
    position = 0
    with RecordWriter(data, (width,), np.float32) as writer:
        for frame in table_batches.batches(path, scan.label):
            positions = np.arange(position, position + len(frame), dtype=np.int64)
            position += len(frame)
            frame, missing, bad = table_stream.prepare(
                frame, target, kind, scan.numeric, scan.floats
            )
            positions = positions[~(missing | bad)]
            train = table_stream.uniforms(positions, seed, 1) >= share
            frame, positions = frame.loc[train], positions[train]
            if not len(frame):
                continue
            numeric = encoder._numeric(frame)
            n_b = (~np.isnan(numeric)).sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_b = np.where(n_b > 0, np.nansum(numeric, axis=0) / np.maximum(n_b, 1), 0.0)
                m2_b = np.nansum((numeric - mean_b) ** 2, axis=0)
            total = count + n_b
            delta = mean_b - mean
            safe = np.maximum(total, 1)
            mean = mean + delta * n_b / safe
            m2 = m2 + m2_b + delta**2 * count * n_b / safe
            count = total
            gaps |= np.isnan(numeric).any(axis=0)
            kept = ~np.isin(positions, holdout)
            codes = encoder._codes(frame)[0]
            y = targets(frame[target])
            block = np.hstack([numeric.astype(np.float32), codes, y[:, None]])[kept]
            writer.add(block)
            y_sum += float(y[kept].astype(np.float64).sum())
            y_squares += float(np.square(y[kept].astype(np.float64)).sum())
    rows = writer.count
    std = np.sqrt(m2 / np.maximum(count, 1))
    mean = np.where((count > 0) & np.isfinite(mean), mean, 0.0)
    std = np.where((count > 0) & np.isfinite(std) & (std > 0), std, 1.0)
    y_mean = y_sum / max(rows, 1)
    y_std = math.sqrt(max(y_squares / max(rows, 1) - y_mean**2, 0.0)) or 1.0
    return {"format": FORMAT, "rows": rows, "width": width, "mean": mean.tolist(),
            "std": std.tolist(), "indicators": np.flatnonzero(gaps).tolist(),
            "y_mean": y_mean, "y_std": y_std}  # fmt: skip


def fit_streamed_mlp(model: Any, rows: StreamedRows, encoder: TabularEncoder) -> None:
    """:meth:`MLPCandidate.fit` on rows read from disk a batch at a time: early-stopped on
    15% of them (20,000 at most, held in memory), an epoch at most ``EPOCH_STEPS`` steps."""
    import torch

    from layerwise.engine import Trainer, TrainerConfig
    from layerwise.engine.rows import rows_together
    from layerwise.tasks.tabular.mlp import DEFAULTS, _objective, _TooSlow

    torch.manual_seed(model.seed)
    classifier = model.is_classifier
    numeric, _ = model._inputs(rows.sample, encoder)
    model.model = model._build(numeric, rows.sample, np.arange(len(rows.sample)))
    weight = None
    if classifier and rows.class_weight is not None:
        weight = torch.tensor(rows.class_weight, dtype=torch.float32)
    if not classifier:
        model.y_mean, model.y_std = float(rows.y_mean), float(rows.y_std)
    n = len(rows)
    rng = np.random.default_rng(model.seed)
    held = np.sort(rng.choice(n, size=min(EARLY_STOP_ROWS, max(1, math.ceil(0.15 * n))),
                              replace=False))  # fmt: skip
    training = np.ones(n, dtype=bool)
    training[held] = False
    train = rows.records.subset(training)

    def convert(block: np.ndarray) -> tuple:
        return rows.tensors(block, encoder, classifier)

    data = rows_together(train, convert, 3)  # numbers, categories, targets: one read
    loss_fn, metrics, fixed = _objective(classifier, model._ensemble, weight)
    defaults = DEFAULTS["tabm" if model._ensemble else "plain"]
    batch = int(model.params.get("batch_size", STREAM_BATCH))
    config = TrainerConfig.from_params(
        model.params,
        model.seed,
        {"epochs": 200, "batch_size": STREAM_BATCH, "lr": defaults["lr"],
         "weight_decay": defaults["weight_decay"], "patience": 16 if model._ensemble else 20,
         "schedule": "cosine", "min_delta": 1e-4,
         "steps_per_epoch": min(EPOCH_STEPS, math.ceil(len(train) / batch))},
        cpu_threads=1,
        **fixed,
    )  # fmt: skip
    probe = _TooSlow.of(model.params, config.time_limit)
    trainer = Trainer(model.model, loss_fn, config, metrics=metrics, callbacks=probe)
    model.history = trainer.fit(data, val=convert(rows.records[held]))
    model.model = trainer.model.to("cpu").eval()
    model.stopped_reason = trainer.stopped_reason
    if probe and (probe[0].gave_up or trainer.stopped_reason == "callback"):
        model.stopped_reason = "time limit"
