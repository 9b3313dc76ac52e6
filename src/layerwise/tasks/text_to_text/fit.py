"""The text-to-text bake-off: read the pairs, split them by distinct source, train the
translation memory and the Transformer, score both with sacreBLEU on validation and test, serve
the better validation BLEU (the memory unless the Transformer is ``BLEU_TOLERANCE`` better).

Validation scores use up to ``SELECT_PAIRS`` validation pairs drawn at random (a large corpus's
validation split would cost minutes of decoding for no better choice); test scores use every
test pair, with each pair's own target as its one reference (sacreBLEU's default) and, beside
it, all targets of its source.

In a world of several processes (``--devices N``, torchrun) every rank reads and splits the
pairs alike; rank 0 alone fits the translation memory, decodes, scores, chooses the beam and
the model, and writes the run folder. The Transformer's parameters are resolved on rank 0 (its
time limit, its checkpoint folder in rank 0's run folder) and sent to the others, which train
it with rank 0 (rank 0's tokenizer and plan: :mod:`.transformer_plan`) and return None.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from layerwise.core.task import Run
from layerwise.errors import ConfigError

CANDIDATES = ("translation-memory", "transformer")
FAMILIES = {"translation-memory": "classical", "transformer": "deep"}
COMPLEXITY = {"translation-memory": 0, "transformer": 1}
BLEU_TOLERANCE = 1.0  # the simpler model is served within a point of BLEU
SELECT_PAIRS = 2000
BEAM = 4  # the beam tried against greedy decoding on validation
BEAM_GAIN = 0.2  # BLEU a beam must add on validation to be kept (it is slower)
METRIC = "bleu"


def fit_text_to_text(task: Any, data: Any, started: float) -> Run | None:
    """The run (rank 0), or None on the other ranks of a world once the Transformer is
    trained."""
    from layerwise.engine.distributed import current_world, orders, release
    from layerwise.runs.writer import open_run_folder
    from layerwise.tasks.text_to_text.outputs import write_text_run
    from layerwise.tasks.text_to_text.pairs import split_by_source

    world = current_world()
    beam_option(task)
    pairs = task.read_pairs(data)
    parts = split_by_source(pairs, float(task.option("val_fraction")),
                            float(task.option("test_fraction")), int(task.option("seed")))  # fmt: skip
    if not world.main:  # the Transformer with rank 0's parameters, if rank 0 trains one
        for params in orders():
            _fit_transformer(task, params, parts)
        return None
    run = open_run_folder(task, data if data is not None else task.option("pair_files"))
    for note in pairs.notes:
        task.say(f"[dim]note: {note}[/dim]")
    task.say(f"{len(pairs):,} pairs, {len(set(pairs.sources)):,} distinct sources; "
             f"{len(parts['train']):,} train / {len(parts['val']):,} validation / "
             f"{len(parts['test']):,} test, split by source")  # fmt: skip
    rng = np.random.default_rng(int(task.option("seed")))
    chosen_val = np.sort(rng.permutation(len(parts["val"]))[:SELECT_PAIRS])
    val, test = parts["val"].subset(chosen_val), parts["test"]
    rows, models, found = [], {}, {}
    for name in task.candidate_names(CANDIDATES):
        begun = time.perf_counter()
        model = _fit_one(task, name, parts, run)
        row = {"candidate": name, "family": FAMILIES[name],
               "fit_seconds": time.perf_counter() - begun}  # fmt: skip
        val_out = _outputs(model, val.sources)
        if name == "transformer":
            val_out = _choose_beam(task, model, val, val_out)
            row["beam"] = model.beam
        row["validation"] = _scores(val, val_out)
        t0 = time.perf_counter()
        found[name] = _outputs(model, test.sources)
        row["predict_ms_per_text"] = 1000 * (time.perf_counter() - t0) / max(len(test), 1)
        row["test"] = _scores(test, found[name], pairs)
        task.say(f"  {name:<18} validation BLEU {row['validation']['bleu']:.1f}, chrF "
                 f"{row['validation']['chrf']:.1f} (fit {row['fit_seconds']:.1f} s)")  # fmt: skip
        for note in getattr(model, "notes", []):
            task.say(f"[dim]  {note}[/dim]")
            pairs.notes.append(note)
        rows.append(row)
        models[name] = model
    release()  # the deep fit is done: the other ranks return
    task.chosen, reason = choose(rows)
    task.model = models[task.chosen]
    task.say(f"[bold green]chosen[/bold green] {reason}")
    deep = models.get("transformer")
    return write_text_run(task, run, pairs, parts, rows, found, deep, started)


def choose(rows: list[dict]) -> tuple[str, str]:
    """The best validation BLEU; within ``BLEU_TOLERANCE`` of it, the simpler model."""
    from types import SimpleNamespace

    from layerwise.core.selection import choose as select

    scored = [{"candidate": r["candidate"], "validation": r["validation"][METRIC]}
              for r in rows]  # fmt: skip
    plan = SimpleNamespace(metric="BLEU", greater_is_better=True, tolerance=BLEU_TOLERANCE,
                           prefer=None, prefer_reason="")  # fmt: skip
    return select(scored, plan, COMPLEXITY)


def _fit_one(task: Any, name: str, parts: dict[str, Any], run: Any) -> Any:
    seed = int(task.option("seed"))
    params = task.candidate_options(name)
    train = parts["train"]
    if name == "translation-memory":
        from layerwise.tasks.text_to_text.memory import TranslationMemory

        return TranslationMemory(seed=seed, **params).fit(train.sources, train.targets)
    from layerwise.engine.distributed import order
    from layerwise.runs import folder as names
    from layerwise.tasks.text_to_text.transformer_plan import CPU_BUDGET_S

    params.setdefault("time_limit", task.time_budget(CPU_BUDGET_S, 2 * CPU_BUDGET_S))
    params.setdefault("device", task.option("device"))
    params.setdefault("progress", bool(task.option("verbose")))
    params.setdefault("checkpoint_dir", str(run.file(names.CHECKPOINTS) / name))
    params.setdefault("resume", task.option("resume") is not None)
    order(params)  # the other ranks of a world train it alongside, with these parameters
    return _fit_transformer(task, params, parts)


def _fit_transformer(task: Any, params: dict[str, Any], parts: dict[str, Any]) -> Any:
    from layerwise.tasks.text_to_text.transformer_train import TransformerTranslator

    seed = int(task.option("seed"))
    return TransformerTranslator(seed=seed, **params).fit(parts["train"], parts["val"])


def _outputs(model: Any, sources: list[str]) -> list[str]:
    return model.predict(sources) if sources else []


def _choose_beam(task: Any, model: Any, val: Any, greedy: list[str]) -> list[str]:
    """Keep beam search when it adds ``BEAM_GAIN`` BLEU on validation (or the ``beam``
    option); the validation outputs of the decoding kept."""
    from layerwise.tasks.text_to_text.scores import text_scores

    asked = beam_option(task)
    if asked is not None:
        model.beam = asked
        return greedy if model.beam == 1 else model.predict(val.sources)
    if not val.sources:
        return greedy
    beamed = model.predict(val.sources, beam=BEAM)
    plain, wide = (text_scores(greedy, val.targets)["bleu"],
                   text_scores(beamed, val.targets)["bleu"])  # fmt: skip
    model.beam = BEAM if wide >= plain + BEAM_GAIN else 1
    model.notes.append(f"transformer: beam {BEAM} {'kept' if model.beam > 1 else 'left out'} "
                       f"(validation BLEU {wide:.2f} with, {plain:.2f} greedy)")  # fmt: skip
    return beamed if model.beam > 1 else greedy


def beam_option(task: Any) -> int | None:
    """The ``beam`` option, checked (before any training: a typo costs no minutes)."""
    asked = task.option("beam")
    if asked is not None and (isinstance(asked, bool) or not isinstance(asked, int)
                              or not 1 <= asked <= 16):  # fmt: skip
        raise ConfigError(f"beam={asked!r} is not valid.", "Use a whole number from 1 to 16.")
    return asked


def _scores(part: Any, outputs: list[str], whole: Any = None) -> dict[str, Any]:
    """BLEU, chrF, exact match; with ``whole`` (test) also all references of each source and
    the scores by source length."""
    from layerwise.tasks.text_to_text.pairs import references_by_source
    from layerwise.tasks.text_to_text.scores import scores_by_length, text_scores

    if not part.sources:
        return {"count": 0, "bleu": None, "chrf": None, "exact_match": None}
    if whole is None:
        return text_scores(outputs, part.targets)
    refs = references_by_source(whole)
    multi = [refs[s] for s in part.sources]
    out = text_scores(outputs, part.targets, multi)
    out["by_length"] = scores_by_length(part.sources, outputs, part.targets)
    return out
