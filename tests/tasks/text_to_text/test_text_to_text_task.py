"""text-to-text end to end: a file of tab-separated pairs is recognised and trained on the
command line, the Transformer learns generated pairs past the translation memory, predict,
chat and evaluate work on a loaded run with the same outputs, and bad input gets one line."""

from __future__ import annotations

import io
import json

import pytest

import layerwise
from layerwise.tasks.text_to_text.generated import generated_pairs

FAST = {"transformer": {"epochs": 2, "dim": 32, "layers": 1}}


def write_pairs(path, n=200, kind="numbers", seed=0):
    pairs = generated_pairs(n, kind=kind, seed=seed)
    text = "".join(f"{s}\t{t}\tCC-BY 2.0 (France)\n"
                   for s, t in zip(pairs.sources, pairs.targets, strict=True))  # fmt: skip
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("pairs") / "numbers.txt")


@pytest.fixture(scope="module")
def trained(pairs_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return layerwise.fit(str(pairs_file), candidate_params=FAST, output_dir=str(out),
                         verbose=False)  # fmt: skip


def test_the_task_is_recognised_and_the_run_is_complete(trained):
    assert trained.task.name == "text-to-text"
    metrics = trained.metrics
    assert metrics["metric"] == "bleu" and set(metrics["candidates"]) == {
        "translation-memory", "transformer"}  # fmt: skip
    for entry in metrics["candidates"].values():
        test = entry["test"]
        assert 0 <= test["bleu"] <= 100 and 0 <= test["chrf"] <= 100
        assert 0 <= test["exact_match"] <= 1 and test["bleu_multi"] >= test["bleu"] - 1e-9
        assert sum(row["count"] for row in test["by_length"]) == test["count"] == 10
    assert metrics["candidates"]["transformer"]["beam"] in (1, 4)
    report = (trained.path / "report.html").read_text()
    for section in ("Test pairs", "Scores by source length", "What each output token looked at"):
        assert section in report
    examples = json.loads((trained.path / "examples" / "examples.json").read_text())
    assert set(examples["first"][0]["outputs"]) == {"translation-memory", "transformer"}
    decision = (trained.path / "decision.md").read_text()
    assert "translation memory" in decision and "BLEU" in decision


def test_a_loaded_run_gives_the_same_outputs(trained, tmp_path, cli):
    texts = ["forty-two", "one hundred and seven", "nine thousand"]
    first = trained.task.predict(texts)
    loaded = layerwise.load(trained.path)
    assert loaded.predict(texts)["output"].tolist() == first["output"].tolist()
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    code, _, err = cli("predict", trained.path, tmp_path / "in.txt", "-o", tmp_path / "out.txt")
    assert code == 0, err
    written = (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()
    assert written == first["output"].tolist()
    code, out, err = cli("predict", trained.path, "forty-two")
    assert code == 0 and first["output"][0] in out, err
    scores = loaded.evaluate(write_pairs(tmp_path / "held.txt", 30, seed=9))
    assert scores["rows"] == 30 and 0 <= scores["bleu"] <= 100


def test_chat_answers_each_line(trained, cli, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("forty-two\nnine\n\n"))
    code, out, err = cli("chat", trained.path)
    assert code == 0, err
    expected = trained.task.predict(["forty-two", "nine"])["output"].tolist()
    assert out.splitlines()[-2:] == expected


def test_bad_input_gets_one_line(tmp_path, cli):
    no_tabs = tmp_path / "notes.txt"
    no_tabs.write_text("just a sentence\nand another one\n", encoding="utf-8")
    code, _, err = cli("train", no_tabs, "--task", "text-to-text", "-o", tmp_path / "runs")
    assert code == 2 and "notes.txt" in err and "Traceback" not in err
    (tmp_path / "a.en").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (tmp_path / "a.fr").write_text("un\ndeux\n", encoding="utf-8")
    code, _, err = cli("train", "--pair-files", f"en={tmp_path / 'a.en'}", f"fr={tmp_path / 'a.fr'}",
                       "-o", tmp_path / "runs")  # fmt: skip
    assert code == 2 and "3" in err and "2" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_empty_input_is_refused(trained, cli):
    code, _, err = cli("predict", trained.path, "   ")
    assert code == 2 and "empty" in err.lower()
    with pytest.raises(layerwise.errors.DataError, match="empty"):
        trained.task.predict(["fine", ""])


def test_parallel_files_train_on_the_command_line(tmp_path, cli):
    pairs = generated_pairs(60, kind="dates", seed=4)
    (tmp_path / "train.en").write_text("\n".join(pairs.sources) + "\n", encoding="utf-8")
    (tmp_path / "train.iso").write_text("\n".join(pairs.targets) + "\n", encoding="utf-8")
    code, _, err = cli("train", "--pair-files", f"en={tmp_path / 'train.en'}",
                       f"iso={tmp_path / 'train.iso'}", "--candidates", "translation-memory",
                       "-o", tmp_path / "runs", "--no-report")  # fmt: skip
    assert code == 0, err
    run = layerwise.load(next((tmp_path / "runs").iterdir()))
    assert run.name == "text-to-text" and run.predict([pairs.sources[0]])["output"][0]
