"""--tune N: a search of the chosen family after the bake-off, its best configuration competing
as a new row with its optimism taken out, saved as JSON, resumable, and refused clearly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.errors import ConfigError

optuna = pytest.importorskip("optuna")

QUIET = {"verbose": False, "seed": 0}


def _wide_table(n: int = 120, p: int = 60, seed: int = 0) -> pd.DataFrame:
    """Three informative columns among many: ridge's default strength (alpha 1) overfits."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(p)])
    frame["y"] = x[:, 0] + x[:, 1] - x[:, 2] + rng.normal(0, 1.0, n)
    return frame


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned")
    frame = _wide_table()
    run = layerwise.fit(frame, target="y", output_dir=out, candidates=["linear"], tune=6, **QUIET)
    return frame, run


def test_the_search_beats_the_untuned_strength_and_its_row_competes(tuned_run):
    _, run = tuned_run
    record = json.loads((run.path / "tuning.json").read_text())
    assert record["family"] == "linear" and len(record["trials"]) == 6
    # lower RMSE on the bake-off's own folds than the untuned alpha=1, and on a fresh split
    assert record["best"]["value"] <= record["untuned"]["value"]
    assert record["fresh_split"]["lead"] > 0
    assert record["best"]["candidate_params"]["alpha"] > 1.0  # stronger regularisation
    assert {"linear", "linear-tuned"} <= set(run.metrics["candidates"])
    decision = (run.path / "decision.md").read_text()
    assert "## Tuning (--tune)" in decision and "| linear-tuned" in decision
    assert "fresh split" in decision and "optimism" in decision
    assert "Tuning: score by trial" in (run.path / "report.html").read_text()


def test_the_tuned_row_competes_lowered_by_its_optimism(tuned_run):
    _, run = tuned_run
    record = json.loads((run.path / "tuning.json").read_text())
    same = record["untuned"]["value"] - record["best"]["value"]  # RMSE: lower is better
    lead = record["fresh_split"]["lead"]
    assert record["optimism"] == pytest.approx(max(0.0, same - lead))
    served = run.metrics["candidates"]["linear-tuned"]["validation"]["rmse"]
    assert served == pytest.approx(record["best"]["value"] + record["optimism"])


def test_a_tuned_run_predicts_the_same_after_load(tuned_run):
    frame, run = tuned_run
    assert run.chosen == "linear-tuned"  # alpha 1 on 60 columns of 96 rows is far from best
    features = frame.drop(columns=["y"])
    loaded = layerwise.load(run.path)
    pd.testing.assert_frame_equal(run.predict(features), loaded.predict(features))
    stored = json.loads((run.path / "preprocess.json").read_text())["model"]
    assert stored["candidate"] == "linear-tuned"


def test_lightgbm_is_searched_over_its_space_on_a_few_pruned_trials(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(200, 4)), columns=list("abcd"))
    frame["y"] = np.where(frame["a"] * frame["b"] + frame["c"] > 0, "p", "q")
    run = layerwise.fit(frame, target="y", output_dir=tmp_path, candidates=["lightgbm"],
                        candidate_params={"lightgbm": {"n_estimators": 20, "num_threads": 1}}, tune=5,
                        report=False, **QUIET)  # fmt: skip
    record = json.loads((run.path / "tuning.json").read_text())
    assert record["family"] == "lightgbm" and len(record["trials"]) == 5
    params = record["trials"][0]["params"]
    assert set(params) == {"learning_rate", "num_leaves", "min_data_in_leaf", "feature_fraction",
                           "bagging_fraction", "lambda_l2", "extra_trees"}  # fmt: skip
    assert all(len(t["folds"]) >= 1 for t in record["trials"])
    assert {t["state"] for t in record["trials"]} <= {"complete", "pruned"}


@pytest.mark.parametrize("bad", [0, -3, 2.5, "many", True])
def test_a_bad_number_of_trials_is_a_clear_error(tmp_path, bad):
    with pytest.raises(ConfigError, match="not a number of trials"):
        layerwise.fit(_wide_table(40, 3), target="y", output_dir=tmp_path, tune=bad, **QUIET)
    assert not any(tmp_path.iterdir())  # refused before any folder


def test_without_optuna_tune_names_the_extra(tmp_path, monkeypatch):
    from layerwise.tasks.tabular import tuning

    monkeypatch.setattr(tuning, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r'pip install "layerwise\[tune\]"'):
        layerwise.fit(_wide_table(40, 3), target="y", output_dir=tmp_path, tune=3, **QUIET)


def test_cli_tune_without_optuna_and_with_zero_are_one_line_exit_2(cli, tmp_path, monkeypatch):
    from layerwise.tasks.tabular import tuning

    path = tmp_path / "t.csv"
    _wide_table(40, 3).to_csv(path, index=False)
    code, _, err = cli("train", path, "--target", "y", "--tune", "0", "-o", tmp_path / "runs")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--tune 30" in err
    monkeypatch.setattr(tuning, "find_spec", lambda name: None)
    code, _, err = cli("train", path, "--target", "y", "--tune", "5", "-o", tmp_path / "runs")
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and 'pip install "layerwise[tune]"' in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_interrupted_search_resumes_from_its_logged_trials(tmp_path, monkeypatch):
    from layerwise.tasks.tabular.tuning import Search

    frame = _wide_table(80, 20)
    calls = {"n": 0}
    real = Search.fit_score

    def killed_in_trial_three(self, params, train, val):
        calls["n"] += 1
        if calls["n"] == 2 * 5 + 2:  # two trials of 5 folds done, then Ctrl-C
            raise KeyboardInterrupt
        return real(self, params, train, val)

    monkeypatch.setattr(Search, "fit_score", killed_in_trial_three)
    options = {"candidates": ["linear"], "tune": 4, "report": False, **QUIET}
    with pytest.raises(KeyboardInterrupt):
        layerwise.fit(frame, target="y", output_dir=tmp_path, **options)
    (folder,) = tmp_path.iterdir()
    logged = json.loads((folder / "checkpoints" / "tuning-trials.json").read_text())
    assert len(logged["trials"]) == 2 and not (folder / "manifest.json").exists()
    assert not list(folder.rglob(".*.tmp"))  # nothing half-written

    monkeypatch.setattr(Search, "fit_score", real)
    run = layerwise.fit(frame, target="y", resume=str(folder), **options)
    record = json.loads((run.path / "tuning.json").read_text())
    assert len(record["trials"]) == 4
    assert record["trials"][:2] == logged["trials"]
    assert any("Resumed: 2 trials" in note for note in record["notes"])
    assert (folder / "manifest.json").exists() and not (folder / "checkpoints").exists()


def test_the_mlp_search_starts_from_the_network_the_mlp_builds():
    from layerwise.tasks.tabular.mlp import DEFAULTS
    from layerwise.tasks.tabular.tuning_space import candidate_params, untuned_params

    point = untuned_params("mlp", True, {}, rows=3000)  # TabM, the default architecture
    assert candidate_params("mlp", point)["hidden"] == DEFAULTS["tabm"]["hidden"]
    assert point["dropout"] == DEFAULTS["tabm"]["dropout"]
    assert point["weight_decay"] == DEFAULTS["tabm"]["weight_decay"]
    plain = untuned_params("mlp", True, {"architecture": "plain"}, rows=3000)
    assert plain is None  # its halving default is no stack of equal widths: outside the space
    assert untuned_params("mlp", True, {"hidden": [64, 64, 64]}, rows=3000)["depth"] == 3
