"""text-classification end to end: the three layouts, the CLI, explanations and bad input."""

from __future__ import annotations

import pandas as pd
import pytest

import layerwise
from layerwise.runs.folder import RunFolder
from layerwise.tasks.text_classification.sources import reviews

FAST = {"epochs": 3, "dim": 32, "vocab_size": 400}
OPTIONS = {"candidate_params": {"text-cnn": FAST, "transformer": FAST}, "verbose": False}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def review_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("text-runs")
    return layerwise.fit(
        reviews(800, seed=0), task="text-classification", output_dir=str(out), **OPTIONS
    )


def test_every_candidate_is_measured_and_the_best_is_good(review_run):
    candidates = review_run.metrics["candidates"]
    assert set(candidates) == {
        "tfidf-logistic",
        "nbsvm",
        "text-cnn",
        "transformer",
        "classical-ensemble",
        "ensemble",
    }
    assert max(c["test"]["accuracy"] for c in candidates.values()) >= 0.85
    assert review_run.metrics["test"]["accuracy"] >= 0.8
    # the n-gram models were refit on training + validation; the deep ones were not
    assert candidates["nbsvm"]["refit_on_validation"] is True
    assert "refit_on_validation" not in candidates["transformer"]
    assert any("5-fold cross-validation" in n for n in review_run.notes)
    assert candidates["nbsvm"]["validation"]["accuracy_std"] > 0
    decision = RunFolder(review_run.path).read_text("decision.md")
    assert "Deep learning or classical?" in decision


def test_report_shows_word_attributions_and_ngrams(review_run):
    run = RunFolder.open(review_run.path)
    page = run.read_text("report.html")
    assert "Which words decided" in page and "Top n-grams" in page
    explained = run.read_json("explanations.json")["texts"]
    assert explained and all(len(r["words"]) > 0 for r in explained)


def test_negation_and_empty_text_through_a_reloaded_run(review_run):
    task = layerwise.load(review_run.path)
    out = task.predict(["the plot was wonderful", "the plot was dreadful", ""])
    assert list(out["prediction"][:2]) == ["pos", "neg"]
    assert any("empty" in note for note in out.attrs["notes"])
    label, words = task.explain_text("the acting was dreadful")
    assert label == "neg" and max(words, key=lambda w: w[1])[0] == "dreadful"


def test_csv_layout_and_cli(cli, tmp_path):
    data = reviews(300, seed=1)
    frame = pd.DataFrame(
        {"review": data.texts, "sentiment": [data.classes[i] for i in data.labels]}
    )
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    code, _, err = cli(
        "train",
        tmp_path / "reviews.csv",
        "--task",
        "text-classification",
        "--text-column",
        "review",
        "--target",
        "sentiment",
        "--candidates",
        "nbsvm,tfidf-logistic",
        "-o",
        tmp_path / "runs",
        "--no-report",
    )
    assert code == 0, err
    run_dir = next((tmp_path / "runs").iterdir())
    code, out, err = cli("predict", run_dir, "the script was brilliant")
    assert code == 0, err and "pos" in out
    code, out, err = cli("explain", run_dir, "the script was brilliant", "-o", tmp_path / "why")
    assert code == 0, err
    assert (tmp_path / "why" / "explanation.html").exists()
    code, _, err = cli(
        "train",
        tmp_path / "reviews.csv",
        "--task",
        "text-classification",
        "--text-column",
        "reveiw",
        "--target",
        "sentiment",
    )
    assert code == 2 and "review" in err and "Traceback" not in err


def test_class_files_layout_through_the_cli(cli, tmp_path):
    data = reviews(200, seed=2)
    for label in data.classes:
        lines = [
            t for t, y in zip(data.texts, data.labels, strict=True) if data.classes[y] == label
        ]
        (tmp_path / f"reviews.{label}").write_text("\n".join(lines) + "\n\n", encoding="latin-1")
    code, _, err = cli(
        "train",
        "--task",
        "text-classification",
        "--class-files",
        f"pos={tmp_path / 'reviews.pos'}",
        f"neg={tmp_path / 'reviews.neg'}",
        "--candidates",
        "nbsvm",
        "-o",
        tmp_path / "runs",
        "--no-report",
    )
    assert code == 0, err
    run = layerwise.load(next((tmp_path / "runs").iterdir()))
    assert run.classes == ["neg", "pos"]


def test_folder_layout_and_one_class_error(cli, tmp_path):
    data = reviews(120, seed=3)
    for i, (text, label) in enumerate(zip(data.texts, data.labels, strict=True)):
        folder = tmp_path / "emails" / data.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.txt").write_text(text, encoding="utf-8")
    run = layerwise.fit(
        str(tmp_path / "emails"),
        task="text-classification",
        candidates=["tfidf-logistic"],
        output_dir=str(tmp_path / "runs"),
        report=False,
        verbose=False,
    )
    assert run.task.classes == ["neg", "pos"]
    for path in (tmp_path / "emails" / "neg").iterdir():
        path.unlink()
    (tmp_path / "emails" / "neg").rmdir()
    code, _, err = cli("train", tmp_path / "emails", "--task", "text-classification")
    assert code == 2 and "one class" in err.lower() and "Traceback" not in err


def test_every_saved_model_reloads_to_identical_probabilities(review_run):
    import numpy as np

    texts = ["the cast was superb", "the ending felt tedious", "a film"]
    loaded = layerwise.load(review_run.path)
    for name, model in review_run.task.models.items():
        assert np.array_equal(loaded.models[name].predict(texts), model.predict(texts)), name
    files = set(RunFolder.open(review_run.path).manifest["files"])
    assert {"tokenizer.text-cnn.json", "tokenizer.transformer.json"} <= files


def test_a_holdout_only_candidate_must_clearly_beat_the_cross_validated_one():
    from types import SimpleNamespace

    import numpy as np

    from layerwise.core import selection
    from layerwise.core.advisor import Plan
    from layerwise.tasks.text_classification.task import TextClassification

    task = TextClassification()
    labels = np.array([0, 1] * 200)
    task._val_labels = labels
    task.models = {n: SimpleNamespace(threshold=None) for n in ("deep", "ngram")}
    plan = Plan([], [], "", 0, "accuracy", True, 0.002, False, "")

    def proba(start: int, stop: int) -> np.ndarray:  # right on examples start..stop-1 only
        index = np.arange(400)
        predicted = np.where((index >= start) & (index < stop), labels, 1 - labels)
        return np.eye(2)[predicted]

    def choose(start: int, stop: int) -> tuple[str, str]:
        rows = [
            {"candidate": "ngram", "validation": 0.80, "val_proba": proba(0, 320),
             "cross_validated": True},
            {"candidate": "deep", "validation": (stop - start) / 400,
             "val_proba": proba(start, stop)},
        ]  # fmt: skip
        for row in rows:
            row["evidence"] = task._evidence(row, plan)
        return selection.choose(rows, plan, {"ngram": 1, "deep": 4})

    # 2 points up, but right and wrong on different texts (48 vs 40 discordant): noise
    chosen, reason = choose(40, 368)
    assert chosen == "ngram" and "not clearly better" in reason
    # 10 points up on the same texts
    chosen, reason = choose(0, 360)
    assert chosen == "deep" and "paired z" in reason
