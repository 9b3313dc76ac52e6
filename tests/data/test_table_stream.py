"""Tables read by batches (--stream): the one pass's statistics equal the in-memory ones, the
encoded cache is reused and a partial one ignored, and bad input is refused as in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.data.profile import infer_column_types
from layerwise.data.table_batches import infer_kind, should_stream
from layerwise.data.table_stream import scan, uniforms
from layerwise.data.tabular_encoder import TabularEncoder
from layerwise.errors import LayerwiseError
from layerwise.tasks.tabular.stream_rows import encoded_rows, fit_encoder


def _table(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x": rng.normal(5, 2, n),
        "gappy": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "big": np.where(rng.random(n) < 0.01, np.inf, rng.normal(size=n)),
        "city": rng.choice([f"c{i}" for i in range(300)], n),  # over the 200 the encoder keeps
        "plan": np.where(rng.random(n) < 0.05, None, rng.choice(["basic", " pro", "team"], n)),
        "active": rng.choice(["yes", "no"], n),
        "y": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
    })  # fmt: skip
    frame.loc[rng.random(n) < 0.02, "y"] = None  # dropped, as in memory
    return frame


def _training(frame, seed, share):
    kept = frame["y"].notna().to_numpy()
    positions = np.arange(len(frame))
    train = kept & (uniforms(positions, seed, 1) >= share)
    return frame.loc[train].reset_index(drop=True)


@pytest.fixture
def parquet(tmp_path):
    frame = _table()
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, row_group_size=400, index=False)
    return frame, path


def test_the_streamed_statistics_equal_the_in_memory_ones(parquet, tmp_path):
    frame, path = parquet
    found = scan(path, "y", "classification", seed=3, test_share=0.2, batch_rows=500)
    train = _training(frame, 3, 0.2)
    assert found.rows == frame["y"].notna().sum() and found.training_rows == len(train)
    assert {c: n[0] for c, n in found.classes.items()} == train["y"].value_counts().to_dict()
    kept = frame[frame["y"].notna()]
    assert found.missing["gappy"] == kept["gappy"].isna().sum()
    assert found.missing["plan"] == kept["plan"].isna().sum()
    # the samples are disjoint, uniform, training rows (sample, holdout) or test rows
    seen = [set(found.sample["__position__"]), set(found.holdout["__position__"]),
            set(found.test["__position__"])]  # fmt: skip
    assert sum(map(len, seen)) == found.rows and not seen[0] & seen[1]
    assert len(found.holdout) == int(np.ceil(0.2 * len(train)))

    columns = infer_column_types(kept, "y")
    streamed = fit_encoder(columns, found)
    _, _, notes = encoded_rows(path, found, streamed, lambda y: np.zeros(len(y)),
                               tmp_path / "cache", (3, 0.2, "classification"))  # fmt: skip
    memory = TabularEncoder(columns).fit(train)
    assert streamed.specs == memory.specs and streamed.notes == memory.notes
    assert "300 categories" in streamed.notes[0]
    np.testing.assert_allclose(streamed.mean, memory.mean, rtol=1e-9)
    np.testing.assert_allclose(streamed.std, memory.std, rtol=1e-9)
    assert streamed.indicators == memory.indicators and "encoded" in notes[0]


def test_the_cache_is_reused_and_a_partial_one_ignored(parquet, tmp_path):
    _, path = parquet
    found = scan(path, "y", "classification", seed=0, test_share=0.2)
    encoder = fit_encoder(infer_column_types(found.sample, "y"), found)
    cache = tmp_path / "cache"
    how = (0, 0.2, "classification")
    codes = {"a": 0, "b": 1, "c": 2}

    def targets(y):
        return y.map(codes).to_numpy(dtype=float)

    records, described, notes = encoded_rows(path, found, encoder, targets, cache, how)
    assert len(records) == found.training_rows - len(found.holdout) == described["rows"]
    assert set(np.unique(records[:][:, -1])) <= {0.0, 1.0, 2.0}
    again = encoded_rows(path, found, encoder, targets, cache, how)
    assert "from the cache" in again[2][0] and len(again[0]) == len(records)
    about = next(cache.glob("table-*.json"))
    about.unlink()  # a run killed before its description: written again
    assert "encoded" in encoded_rows(path, found, encoder, targets, cache, how)[2][0]
    data = next(cache.glob("table-*.f4"))
    data.write_bytes(data.read_bytes()[:-4])  # a cut file under a description: written again
    assert "encoded" in encoded_rows(path, found, encoder, targets, cache, how)[2][0]
    assert sorted(p.suffix for p in cache.iterdir()) == [".f4", ".json"]  # no partial left


def test_a_csv_streams_with_the_types_pandas_gives_it(tmp_path):
    frame = _table(800)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    found = scan(path, "y", "classification", seed=0, test_share=0.2, batch_rows=100)
    assert found.numeric == ["x", "gappy", "big"]
    assert found.sample["x"].dtype == np.float64 and "x" not in found.categories
    assert infer_kind(path, "y") == "classification" and infer_kind(path, "x") == "regression"
    assert should_stream(None, path) == (False, None) and should_stream(True, path)[0]
    frame = frame.assign(y=np.arange(len(frame)) % 2).astype({"y": object})
    frame.loc[700, "y"] = None  # pandas reads the column as floats: classes 0.0 and 1.0
    frame.to_csv(path, index=False)
    found = scan(path, "y", "classification", seed=0, test_share=0.2, batch_rows=100)
    assert sorted(found.classes) == [0.0, 1.0] and found.sample["y"].dtype == np.float64
    assert all(isinstance(c, float) for c in found.classes)


def _message(path, **options):
    with pytest.raises(LayerwiseError) as caught:
        layerwise.fit(path, output_dir=path.parent / "runs", verbose=False, **options)
    return str(caught.value)


@pytest.mark.parametrize(
    "change, options",
    [
        ({}, {"target": "nope", "task": "tabular-classification"}),
        ({"y": "one"}, {"target": "y", "task": "tabular-classification"}),
        ({"y": "word"}, {"target": "y", "task": "tabular-regression"}),
        ({"y": None}, {"target": "y", "task": "tabular-classification"}),
        ({}, {"target": "nope"}),
    ],
)
def test_bad_input_is_refused_as_in_memory_and_writes_nothing(tmp_path, change, options):
    frame = _table(200).assign(**change)
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, row_group_size=50, index=False)
    streamed = _message(path, stream=True, **options)
    assert streamed == _message(path, **options)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
