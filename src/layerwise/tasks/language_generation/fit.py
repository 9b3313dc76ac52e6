"""The language-generation bake-off and run folder: tokenise, split, fit the n-gram model and
the GPT, score both on the whole validation split, serve the lower loss; generation, loss on
new text, and loading a run.

In a world of several processes (``--devices N``, torchrun) rank 0 fits the tokenizer and sends
it to the others, trains the n-gram model, takes the samples shown in the report, scores and
writes the run folder; every rank trains the GPT together (data-parallel, on rank 0's clock:
see :mod:`.train`), and the ranks other than 0 then return None.

Streamed (``--stream``, or a file whose text and ids would not fit: :mod:`.token_stream`), the
text is tokenised once into a file of ids that the first process of each machine writes and
every rank reads its windows from; the n-gram model counts a bounded sample of the training
ids and both models are scored on a bounded sample of the validation ids (said in the notes).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from layerwise.core.task import Run
from layerwise.engine.callbacks import Snapshots
from layerwise.engine.distributed import World, current_world, from_main
from layerwise.errors import ConfigError
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.tasks.language_generation.outputs import TOKENIZER, write_language_run

CPU_BUDGET_S = 300.0
GPU_BUDGET_S = 600.0
SAMPLE_TOKENS = 200
SAMPLES_PER_RUN = 8
STEPS_PER_EPOCH = 200


def fit_language(task: Any, data: Any, started: float) -> Run | None:
    """The run (rank 0), or None on the other ranks of a world once the GPT is trained."""
    from layerwise.runs.writer import open_run_folder

    world = current_world()
    fraction = float(task.option("val_fraction"))
    corpus, train, val, tokens = _read(task, data, fraction, world)
    for note in corpus.notes:
        task.say(f"[dim]note: {note}[/dim]")
    # after the data checks: bad input leaves no folder; rank 0's alone in a world
    run = open_run_folder(task, data) if world.main else None
    task.say(f"{len(corpus):,} characters, {tokens:,} tokens ({task.option('tokenizer')}, "
             f"vocabulary {task.tokenizer.vocab_size}); validation: the last "
             f"{task.option('val_fraction'):.0%}")  # fmt: skip
    rows, models = [], {}
    chars_per_token = len(corpus) / max(tokens, 1)
    for name in task.candidate_names(("ngram", "gpt")):
        if name == "ngram" and not world.main:  # the n-gram model is rank 0's alone
            continue
        start = time.perf_counter()
        fitted = (_fit_ngram if name == "ngram" else _fit_gpt)(task, train, val, run)
        if fitted is None:  # a rank other than 0: its share of the GPT trained
            continue
        model, extra = fitted
        loss = extra.pop("val_loss")
        row = {"candidate": name, "family": "classical" if name == "ngram" else "deep",
               "fit_seconds": time.perf_counter() - start,
               "validation": _loss_figures(loss, chars_per_token), **extra}  # fmt: skip
        task.say(f"  {name:<6} validation loss {loss:.4f} nats/token "
                 f"(fit {row['fit_seconds']:.1f} s)")  # fmt: skip
        rows.append(row)
        models[name] = model
    if not world.main:
        return None
    best = min(rows, key=lambda r: r["validation"]["loss"])
    task.chosen, task.model = best["candidate"], models[best["candidate"]]
    return write_language_run(task, run, corpus, rows, models, started, _protocol(task, val))


def _read(task: Any, data: Any, fraction: float, world: World) -> tuple[Any, Any, Any, int]:
    """(the corpus, the training and validation ids, the number of tokens): in memory (numpy
    arrays), or streamed (``--stream``, or a file too large: token spans of a file on disk,
    tokenised once by the first process of each machine, the others reading its cache)."""
    from layerwise.tasks.language_generation.corpus import read_corpus, split_corpus
    from layerwise.tasks.language_generation.text_stream import should_stream, streamable

    stream, why = should_stream(task.option("stream"), data)
    if stream:
        from pathlib import Path

        from layerwise.tasks.language_generation.token_stream import tokenise_file

        cache = Path(task.option("output_dir")) / ".cache"
        tokens = tokenise_file(streamable(data), task.option("tokenizer"), fraction, cache,
                               say=task.say)  # fmt: skip
        task.tokenizer = tokens.tokenizer
        train, val = tokens.split(fraction)
        notes = tokens.text.notes
        notes[:0] = [why] if why else []
        notes += _stream_notes(train, val)
        return tokens.text, train, val, len(tokens.records)
    corpus = read_corpus(data)
    if task.option("stream") and streamable(data) is None:
        corpus.notes.append("the text was given in memory: --stream has nothing to stream")
    task.tokenizer = _tokenizer(task, corpus.text, fraction, world)
    ids = np.asarray(task.tokenizer.encode(corpus.text), dtype=np.int64)
    train, val = split_corpus(ids, fraction)
    return corpus, train, val, len(ids)


def _stream_notes(train: Any, val: Any) -> list[str]:
    from layerwise.tasks.language_generation.token_stream import NGRAM_TOKENS, RUNS, VAL_TOKENS

    notes = []
    if len(train) > NGRAM_TOKENS:
        notes.append(f"the n-gram model counted {NGRAM_TOKENS:,} of the {len(train):,} training "
                     f"tokens ({RUNS} evenly spaced runs): its memory grows with what it counts")  # fmt: skip
    if len(val) > VAL_TOKENS:
        notes.append(f"both models were scored on {VAL_TOKENS:,} of the {len(val):,} validation "
                     f"tokens ({RUNS} evenly spaced runs)")  # fmt: skip
    return notes


def _protocol(task: Any, val: Any) -> str:
    """How the validation loss was measured (metrics.json, decision.md)."""
    from layerwise.tasks.language_generation.token_stream import RUNS, VAL_TOKENS

    split = f"the last {task.option('val_fraction'):.0%} of the text"
    if len(val) <= VAL_TOKENS or isinstance(val, np.ndarray):
        return f"{split}, every token scored (nats per token)"
    return (f"{VAL_TOKENS:,} tokens of {split} ({len(val):,} tokens) in {RUNS} evenly spaced "
            "runs, every one of those scored (nats per token)")  # fmt: skip


def _tokenizer(task: Any, text: str, fraction: float, world: World) -> Any:
    """The tokenizer, fitted on rank 0 and sent to the others (their GPT must have its
    vocabulary, and their ids mean what rank 0's mean)."""
    from layerwise.tasks.language_generation.corpus import make_tokenizer, tokenizer_from_dict

    if not world.main:
        return tokenizer_from_dict(from_main(None, world))
    kind = task.option("tokenizer")
    # BPE merges are learned on the training part only: the validation text stays unseen
    fit_on = text if kind == "char" else text[: int(len(text) * (1 - fraction))]
    tokenizer = make_tokenizer(kind, fit_on)
    if world.distributed:
        from_main(tokenizer.to_dict(), world)
    return tokenizer


def _loss_figures(loss: float, chars_per_token: float) -> dict[str, float]:
    return {"loss": loss, "perplexity": float(np.exp(loss)),
            "nats_per_char": loss / max(chars_per_token, 1e-9)}  # fmt: skip


def _fit_ngram(task: Any, train: Any, val: Any, run: RunFolder) -> tuple[Any, dict]:
    from layerwise.tasks.language_generation.ngram import NGramLM
    from layerwise.tasks.language_generation.token_stream import (
        NGRAM_TOKENS,
        mean_loss,
        scored_tokens,
    )

    model = NGramLM(kind=task.option("tokenizer"), **task.candidate_options("ngram"))
    counted, pieces = _joined(scored_tokens(train, NGRAM_TOKENS)), scored_tokens(val)
    model.fit(counted, _joined(pieces), vocab_size=task.tokenizer.vocab_size)
    return model, {"val_loss": mean_loss(pieces, model.loss), "order": model.order,
                   "trained_tokens": len(counted)}  # fmt: skip


def _joined(pieces: list[np.ndarray]) -> np.ndarray:
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _fit_gpt(task: Any, train: Any, val: Any, run: RunFolder | None) -> tuple[Any, dict] | None:
    """The GPT and its figures; None on a rank other than 0 (it trained its share)."""
    from layerwise.models.gpt import GPT, GPTConfig, parameter_count
    from layerwise.tasks.language_generation.corpus import all_windows
    from layerwise.tasks.language_generation.token_stream import (
        draw_windows,
        mean_loss,
        scored_tokens,
    )
    from layerwise.tasks.language_generation.train import (
        EVAL_BATCHES,
        LMTrainer,
        WindowBatches,
        gpt_config,
        window_loss,
        window_seed,
    )

    seed, params = int(task.option("seed")), task.candidate_options("gpt")
    config = GPTConfig.preset(params.pop("size", task.option("size")), task.tokenizer.vocab_size,
                              params.pop("block_size", None))  # fmt: skip
    block = config.block_size
    torch.manual_seed(seed)
    model = GPT(config)
    counts = parameter_count(model)
    task.say(f"  gpt    {task.option('size')}: {counts['total']:,} parameters, block {block}")
    world, trainer_params = current_world(), None
    if world.main:
        trainer_params = {"device": task.option("device"), "progress": bool(task.option("verbose")),
                          "checkpoint_dir": str(run.file(names.CHECKPOINTS) / "gpt"),
                          "time_limit": task.time_budget(CPU_BUDGET_S, GPU_BUDGET_S),
                          "batch_size": 16, **params}  # fmt: skip
    # rank 0's on every rank: its checkpoint folder (rank 0 writes there, and every rank meets
    # at the barrier after each write) and its time limit
    config_ = gpt_config(from_main(trainer_params, world), seed)
    steps = int(params.get("steps_per_epoch", STEPS_PER_EPOCH))
    total = int(params.get("max_steps", 10**9))
    trainer = LMTrainer(model, config_, total, warmup=int(params.get("warmup", 50)))
    # in memory: tensors; streamed: token spans on disk, read a window at a time
    train_t, val_t = (torch.from_numpy(s) if isinstance(s, np.ndarray) else s for s in (train, val))
    # each rank its own windows, its share of the step's batch: N ranks train one batch of
    # batch_size, as one process would; the learning rate and the stop follow rank 0's clock
    batches = WindowBatches(train_t, block, trainer.rank_batch, steps,
                            window_seed(seed, world.rank), clock=trainer.clock)  # fmt: skip
    generator = torch.Generator().manual_seed(seed + 1)
    estimate = draw_windows(val_t, block, EVAL_BATCHES * config_.batch_size, generator)
    samples = SampleLog(task, config_.time_limit)
    if world.main:  # the samples shown in the report; the validation estimate is rank 0's too
        trainer.callbacks.append(samples)
    history = trainer.fit(batches, val=estimate)
    if not world.main:
        return None
    model = trainer.model.to("cpu").eval()
    loss = mean_loss(scored_tokens(val),
                     lambda p: window_loss(model, all_windows(torch.from_numpy(p), block)), 1)  # fmt: skip
    return model, {"val_loss": loss, "history": history, "samples": samples.taken,
                   "parameters": counts, "architecture": config.to_dict(),
                   "steps": trainer.step_count, "stopped": trainer.stopped_reason}  # fmt: skip


class SampleLog(Snapshots):
    """Generates a short sample from the prompt at up to SAMPLES_PER_RUN moments of training
    (spread over the time limit), for the report."""

    def __init__(self, task: Any, limit: float | None):
        super().__init__(limit, SAMPLES_PER_RUN)
        self.task = task

    def take(self, trainer: Any, record: dict[str, Any], elapsed: float) -> dict[str, Any]:
        from layerwise.tasks.language_generation.train import sample_text

        prompt, _ = encode_prompt(self.task, self.task.option("prompt"))
        text = sample_text(trainer.model, self.task.tokenizer, prompt, SAMPLE_TOKENS // 2,
                           seed=int(self.task.option("seed")))  # fmt: skip
        return {"epoch": record["epoch"], "step": trainer.step_count,
                "seconds": round(elapsed, 1), "val_loss": record.get("val_loss"), "text": text}  # fmt: skip


def encode_prompt(task: Any, prompt: str) -> tuple[np.ndarray, list[str]]:
    """Token ids of ``prompt``; characters outside a char vocabulary are mapped, skipped or
    refused (the ``unknown`` option), with a note saying which."""
    how, notes = task.option("unknown"), []
    unknown = task.tokenizer.unknown(prompt)  # always empty for byte-level BPE
    if unknown and how != "error":  # "error" raises in encode, naming them
        done = "mapped to close ones" if how == "map" else "left out"
        notes.append(
            f"characters not in the training text ({''.join(sorted(unknown))!r}) were {done}"
        )
    ids = np.asarray(task.tokenizer.encode(prompt, unknown=how), dtype=np.int64)
    if len(ids) == 0:  # generation needs a token to start from: a new line, where the text had one
        ids = np.asarray(task.tokenizer.encode("\n", unknown="skip"), dtype=np.int64)[:1]
        if len(ids) == 0:
            ids = np.zeros(1, dtype=np.int64)
    return ids, notes


def generate(task: Any, prompt: str, settings: dict[str, Any], seed: int, on_text: Any) -> str:
    ids, _ = encode_prompt(task, prompt)
    n = int(settings["max_tokens"])
    if n < 0:
        raise ConfigError(f"--max-tokens {n} is not valid.", "Ask for 0 or more tokens.")
    decode = task.tokenizer.decode
    callback = None
    if on_text is not None:
        generated: list[int] = []

        def callback(token: int) -> None:
            before = decode(generated)
            generated.append(int(token))
            on_text(decode(generated)[len(before) :])

    if task.chosen == "ngram":  # samples from the smoothed distribution (temperature 1)
        out = task.model.sample(ids, n, seed=seed)
        for token in out if callback is not None else []:
            callback(token)
        return decode(list(ids) + list(out))
    idx = torch.from_numpy(ids)[None, :]
    generator = torch.Generator().manual_seed(seed)
    out = task.model.generate(idx, n, temperature=float(settings["temperature"]),
                              top_k=settings["top_k"], top_p=settings["top_p"],
                              generator=generator, on_token=callback)  # fmt: skip
    return decode(out[0].tolist())


def text_loss(task: Any, data: Any) -> dict[str, Any]:
    from layerwise.tasks.language_generation.corpus import all_windows, read_corpus

    corpus = read_corpus(data)
    ids = np.asarray(task.tokenizer.encode(corpus.text, unknown="map"), dtype=np.int64)
    if task.chosen == "ngram":
        loss = float(task.model.loss(ids))
    else:
        from layerwise.tasks.language_generation.train import window_loss

        loss = window_loss(
            task.model, all_windows(torch.from_numpy(ids), task.model.config.block_size)
        )
    return {"rows": len(corpus.text), "tokens": len(ids),
            **_loss_figures(loss, len(corpus.text) / max(len(ids), 1))}  # fmt: skip


def restore(cls: Any, run: RunFolder) -> Any:
    from layerwise.tasks.language_generation.corpus import tokenizer_from_dict

    stored = run.read_json(names.PREPROCESS)
    task = cls(verbose=False, **stored.get("options", {}))
    task.tokenizer = tokenizer_from_dict(run.read_json(TOKENIZER))
    task.chosen = stored["chosen"]
    if task.chosen == "ngram":
        from layerwise.tasks.language_generation.ngram import NGramLM

        task.model = NGramLM.load(run, stored["model"])
    else:
        from layerwise.models.gpt import GPT, GPTConfig
        from layerwise.runs.weights import config_from, restore_module

        config = config_from(GPTConfig, stored["model"]["architecture"], run)
        task.model = restore_module(run, stored["model"]["file"], lambda: GPT(config)).eval()
    return task
