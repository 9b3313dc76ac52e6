"""Write a language-generation run folder: the served model (GPT weights in safetensors, or the
n-gram counts), tokenizer.json, preprocess.json, metrics.json, decision.md, history.csv and
the samples taken during training (samples.json)."""

from __future__ import annotations

import time
from typing import Any

from layerwise.core.bakeoff import bakeoff_metrics, decision_page, markdown_table
from layerwise.core.task import Run
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema

TOKENIZER = "tokenizer.json"
SAMPLES = "samples.json"
GENERATION_OPTIONS = ("tokenizer", "size", "max_tokens", "temperature", "top_k", "top_p",
                      "unknown", "prompt")  # fmt: skip


def write_language_run(task: Any, run: RunFolder, corpus: Any, rows: list[dict], models: dict,
                       started: float, protocol: str) -> Run:  # fmt: skip
    """``corpus``: a :class:`~.corpus.Corpus`, or a streamed file's
    :class:`~.text_stream.StreamedText` (its length and notes are all that is read);
    ``protocol``: how the validation loss was measured."""
    run.write_json(TOKENIZER, task.tokenizer.to_dict())
    info = _save_model(task, run)
    options = {k: task.option(k) for k in GENERATION_OPTIONS}
    preprocess = {"chosen": task.chosen, "model": info, "options": options}
    gpt = next((r for r in rows if r["candidate"] == "gpt"), None)
    if gpt is not None:
        run.write_json(SAMPLES, {"prompt": task.option("prompt"), "samples": gpt["samples"]})
    metrics = _metrics(task, corpus, rows, info, run, time.perf_counter() - started, protocol)
    files = StandardFiles(preprocess, task_schema(task), metrics, _decision(task, rows, metrics),
                          None if gpt is None else gpt["history"])  # fmt: skip
    report = finish_run(task, run, files, task.chosen)
    return Run(
        run.path, task, run.read_json(names.METRICS), task.chosen, report, list(corpus.notes)
    )


def _save_model(task: Any, run: RunFolder) -> dict[str, Any]:
    if task.chosen == "ngram":
        return task.model.save(run, "model.ngram")
    from layerwise.engine.checkpoint import save_weights

    save_weights(run.file("model.safetensors"), task.model.state_dict())
    return {"file": "model.safetensors", "architecture": task.model.config.to_dict()}


def _metrics(task: Any, corpus: Any, rows: list[dict], info: dict, run: RunFolder,
             seconds: float, protocol: str) -> dict[str, Any]:  # fmt: skip
    candidates = {}
    for row in rows:
        entry = {"family": row["family"], "fit_seconds": row["fit_seconds"],
                 "validation": row["validation"]}  # fmt: skip
        for key in ("order", "parameters", "steps", "stopped", "architecture", "trained_tokens"):
            if key in row:
                entry[key] = row[key]
        candidates[row["candidate"]] = entry
    files = [v for k, v in info.items() if k.endswith("file") and isinstance(v, str)]
    candidates[task.chosen]["size_bytes"] = sum(run.file(f).stat().st_size for f in files)
    return bakeoff_metrics(
        task.name, metric="loss", greater_is_better=False,
        protocol=protocol, chosen=task.chosen,
        test=dict(candidates[task.chosen]["validation"]),
        candidates=candidates, characters=len(corpus),
        tokenizer=task.option("tokenizer"), vocab_size=task.tokenizer.vocab_size,
        seconds=seconds, notes=list(corpus.notes),
    )  # fmt: skip


def _decision(task: Any, rows: list[dict], metrics: dict) -> str:
    best = metrics["candidates"][task.chosen]["validation"]
    choice = (
        f"**Served: {task.chosen}**: the lower loss on the validation text "
        f"({best['loss']:.4f} nats per token, perplexity {best['perplexity']:.2f})."
    )
    corpus = [f"{metrics['characters']:,} characters, {task.option('tokenizer')} tokens "
              f"(vocabulary {metrics['vocab_size']}); {metrics['validation_protocol']}."]  # fmt: skip
    head = ["candidate", "family", "validation loss (nats/token)", "perplexity", "nats/char",
            "fit s"]  # fmt: skip
    cells = [[row["candidate"], row["family"], f"{row['validation']['loss']:.4f}",
              f"{row['validation']['perplexity']:.2f}", f"{row['validation']['nats_per_char']:.4f}",
              f"{row['fit_seconds']:.1f}"] for row in rows]  # fmt: skip
    blocks = [corpus, markdown_table(head, cells)]
    gpt = metrics["candidates"].get("gpt")
    if gpt:
        blocks.append([f"GPT: {gpt['parameters']['total']:,} parameters, {gpt['steps']:,} "
                       f"steps, stopped by {gpt['stopped']}."])  # fmt: skip
    ngram = metrics["candidates"].get("ngram")
    if ngram:
        blocks.append([f"n-gram: order {ngram['order']} (chosen on the validation text), "
                       "interpolated Kneser-Ney smoothing, counted on "
                       f"{ngram.get('trained_tokens', 0):,} training tokens."])  # fmt: skip
    return decision_page("Why this model", choice, blocks)
