"""Write a text-to-text run folder and load it back.

Files: the served model (``transformer.safetensors`` with ``tokenizer.json`` and its
architecture in preprocess.json, or ``memory.json``, the translation memory's pairs), and
``history.csv`` (the Transformer's loss and validation BLEU per epoch), ``examples.json`` (test
pairs with both models' outputs: :mod:`.examples`), the attention maps, metrics and decision.
"""

from __future__ import annotations

import time
from typing import Any

from layerwise.core.bakeoff import bakeoff_metrics, decision_page, markdown_table
from layerwise.core.task import Run
from layerwise.errors import RunFolderError
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema

MEMORY_FILE = "memory.json"
STORED_OPTIONS = ("source_column", "target_column", "reverse", "max_tokens")


def write_text_run(task: Any, run: RunFolder, pairs: Any, parts: dict[str, Any],
                   rows: list[dict], found: dict[str, list[str]], deep: Any,
                   started: float) -> Run:  # fmt: skip
    from layerwise.tasks.text_to_text.examples import write_attention, write_examples

    info = save_model(task, run)
    preprocess = {"chosen": task.chosen, "model": info,
                  "options": {k: task.option(k) for k in STORED_OPTIONS}}  # fmt: skip
    write_examples(run, parts["test"], found, task.chosen)
    if deep is not None:
        write_attention(run, deep, parts["test"])
    metrics = _metrics(task, pairs, parts, rows, time.perf_counter() - started)
    size = sum(run.file(f).stat().st_size for f in info["files"])
    metrics["candidates"][task.chosen]["size_bytes"] = size
    history = getattr(deep, "history", None)
    if history is not None:  # the report's learning curves mark the epoch the Transformer kept
        metrics["epoch_kept_by"] = {"column": "val_bleu", "mode": "max"}
    files = StandardFiles(preprocess, task_schema(task), metrics, _decision(task, rows, metrics),
                          history)  # fmt: skip
    report = finish_run(task, run, files, task.chosen)
    return Run(run.path, task, run.read_json(names.METRICS), task.chosen, report,
               list(pairs.notes))  # fmt: skip


def save_model(task: Any, run: RunFolder) -> dict[str, Any]:
    if task.chosen == "transformer":
        info = task.model.save(run)
        return {"kind": "transformer", "files": [info["file"], info["tokenizer"]], **info}
    run.write_json(MEMORY_FILE, task.model.to_dict())
    return {"kind": "translation-memory", "file": MEMORY_FILE, "files": [MEMORY_FILE]}


def restore(cls: Any, run: RunFolder) -> Any:
    stored = run.read_json(names.PREPROCESS)
    options = {k: v for k, v in (stored.get("options") or {}).items() if k in STORED_OPTIONS}
    valid = (
        all(options.get(k) is None or isinstance(options[k], str)
            for k in ("source_column", "target_column"))
        and isinstance(options.get("reverse", False), bool)
        and (options.get("max_tokens") is None or (isinstance(options["max_tokens"], int)
                                                   and 1 <= options["max_tokens"] <= 128))
    )  # fmt: skip
    if not valid:
        raise RunFolderError(f"The options in '{run.path}' are not ones layerwise writes.",
                             "Use the run folder as `layerwise train` wrote it, or train again.")  # fmt: skip
    task = cls(verbose=False, **options)
    task.chosen = str(stored.get("chosen"))
    info = stored.get("model") or {}
    if info.get("kind") == "transformer" and task.chosen == "transformer":
        from layerwise.tasks.text_to_text.transformer_train import TransformerTranslator

        task.model = TransformerTranslator.load(run, info)
    elif info.get("kind") == "translation-memory" and task.chosen == "translation-memory":
        from layerwise.tasks.text_to_text.memory import TranslationMemory

        task.model = TranslationMemory.from_dict(run.read_json(MEMORY_FILE))
    else:
        raise RunFolderError(f"'{run.path}' serves an unknown model {info.get('kind')!r}.",
                             "Train again.")  # fmt: skip
    return task


def _metrics(task: Any, pairs: Any, parts: dict[str, Any], rows: list[dict],
             seconds: float) -> dict[str, Any]:  # fmt: skip
    candidates = {}
    for row in rows:
        candidates[row["candidate"]] = {
            "family": row["family"], "fit_seconds": row["fit_seconds"],
            "predict_ms_per_row": row["predict_ms_per_text"],
            "validation": row["validation"], "test": row["test"]}  # fmt: skip
        if "beam" in row:
            candidates[row["candidate"]]["beam"] = row["beam"]
    sizes = {k: len(v) for k, v in parts.items()}
    return bakeoff_metrics(
        task.name, metric="bleu", greater_is_better=True,
        protocol=f"sacreBLEU on up to 2,000 validation pairs; test scores on {sizes['test']:,} "
        "held-out pairs whose sources training never saw (split by distinct source), one "
        "reference each, and all references of each source beside it",
        chosen=task.chosen, test=dict(candidates[task.chosen]["test"]), candidates=candidates,
        pairs=len(pairs), distinct_sources=len(set(pairs.sources)), split=sizes,
        seconds=seconds, notes=list(pairs.notes),
    )  # fmt: skip


def _fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _decision(task: Any, rows: list[dict], metrics: dict) -> str:
    best = metrics["candidates"][task.chosen]
    choice = (f"**Served: {task.chosen}**: validation BLEU {_fmt(best['validation']['bleu'])} "
              "(the simpler model is served within 1 BLEU of the best).")  # fmt: skip
    head = ["candidate", "family", "val BLEU", "test BLEU", "test chrF", "test exact match",
            "test BLEU, all references", "fit s", "predict ms/text"]  # fmt: skip
    cells = []
    for row in rows:
        t = row["test"]
        cells.append([row["candidate"], row["family"], _fmt(row["validation"]["bleu"]),
                      _fmt(t["bleu"]), _fmt(t["chrf"]), _fmt(t["exact_match"], 3),
                      _fmt(t.get("bleu_multi")), f"{row['fit_seconds']:.1f}",
                      f"{row['predict_ms_per_text']:.1f}"])  # fmt: skip
    by_name = {r["candidate"]: r for r in rows}
    verdict = []
    if len(by_name) == 2:
        gap = by_name["transformer"]["test"]["bleu"] - by_name["translation-memory"]["test"]["bleu"]
        verdict = [f"On the test pairs the Transformer's BLEU is {abs(gap):.1f} "
                   f"{'above' if gap >= 0 else 'below'} that of the translation memory (the "
                   "target of the most similar training source, as computer-assisted "
                   "translation tools and retrieval chatbots answer without deep learning)."]  # fmt: skip
        if gap < 0:
            verdict.append("On this data the retrieval answer is the better one: the corpus "
                           "is small or repetitive enough that looking up wins.")  # fmt: skip
    notes = [f"- {n}" for n in metrics.get("notes", [])]
    return decision_page("Why this model", choice,
                         [markdown_table(head, cells), verdict, notes])  # fmt: skip
