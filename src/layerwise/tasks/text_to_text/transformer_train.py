"""The deep model of text-to-text: a Transformer encoder-decoder (:mod:`layerwise.models.seq2seq`)
trained by the engine's one training loop on token-count batches, against the clock.

Training: one byte-level BPE over both sides (:mod:`.tokens`), batches of at most
``max_tokens`` tokens (:mod:`.batches`), cross-entropy with label smoothing 0.1, AdamW with a
linear warmup and a cosine to zero over the planned steps. With no ``epochs`` given the steps
are planned from the time budget: a few steps are timed on a copy of the model and the run gets
as many as fit (the cosine then ends inside the budget instead of being cut off); the plan is
written beside the checkpoints so a resumed run keeps it. An "epoch" here is a fixed number of
steps (a pass over a large corpus can outlast the whole budget), between a tenth and a fortieth
of the run, so the learning curves have 10 to 40 points. After each, the validation loss and
the BLEU of greedy translations of up to ``VAL_PAIRS`` validation pairs are recorded; the
weights of the best validation BLEU are kept.

Example:
    >>> from layerwise.tasks.text_to_text.generated import generated_pairs
    >>> pairs = generated_pairs(60, seed=0)
    >>> model = TransformerTranslator(seed=0, epochs=1, dim=32, layers=1).fit(
    ...     pairs.subset(range(50)), pairs.subset(range(50, 60)))
    >>> len(model.predict(["forty-two"])[0]) >= 0
    True
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.engine import Trainer, TrainerConfig
from layerwise.engine.config import resolve_device
from layerwise.errors import ConfigError, DataError, RunFolderError, check_option_names
from layerwise.models.seq2seq import Seq2Seq, Seq2SeqConfig, seq2seq_config_for
from layerwise.tasks.text_to_text.batches import IGNORE, PairBatches, make_batch
from layerwise.tasks.text_to_text.tokens import PairTokenizer, vocab_size_for

MODEL_FILE, TOKENIZER_FILE = "transformer.safetensors", "tokenizer.json"
PLAN_FILE = "transformer_plan.json"  # beside the checkpoints: the steps planned, kept on resume
LR, WEIGHT_DECAY, LABEL_SMOOTHING = 1e-3, 0.01, 0.1
MAX_TOKENS = 4096  # tokens per batch, padding counted
MAX_SOURCE_TOKENS, MAX_TARGET_TOKENS = 128, 128  # longer pairs are cut to these for training
VAL_PAIRS = 500  # validation pairs translated after each epoch (greedy) for the BLEU curve
MIN_EPOCHS, MAX_EPOCHS = 10, 40
MAX_STEPS = 200_000
CPU_BUDGET_S = 600.0  # training seconds on a CPU when neither epochs nor time_limit is given
PARAMS = ("epochs", "steps_per_epoch", "time_limit", "lr", "weight_decay", "max_tokens",
          "label_smoothing", "dim", "layers", "heads", "dropout", "vocab_size", "device",
          "progress", "checkpoint_dir", "resume", "cpu_threads", "beam")  # fmt: skip


def smoothed_loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Token-level cross-entropy with label smoothing; ``IGNORE`` positions count nowhere."""
    return F.cross_entropy(logits.flatten(0, 1).float(), target.reshape(-1),
                           ignore_index=IGNORE, label_smoothing=smoothing)  # fmt: skip


class _TranslationTrainer(Trainer):
    """The engine's Trainer whose validation translates the validation pairs."""

    def __init__(self, *args: Any, score: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.score = score

    def evaluate(self, data: Any) -> dict[str, float]:
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            out = self.score(self.model)
        self.model.train(was_training)
        return out


class TransformerTranslator:
    """Tokenizer + Transformer encoder-decoder, trained by the engine; see the module doc."""

    name: ClassVar[str] = "transformer"
    family: ClassVar[str] = "deep"

    def __init__(self, seed: int = 0, **params: Any):
        check_option_names("transformer", params, PARAMS)
        self.seed, self.params = int(seed), dict(params)
        self.model: Seq2Seq | None = None
        self.tokenizer: PairTokenizer | None = None
        self.history: Any = None
        self.notes: list[str] = []
        self.beam = int(params.get("beam", 1))

    # ---- training ------------------------------------------------------------------------

    def _config(self, n_pairs: int) -> Seq2SeqConfig:
        on_cpu = resolve_device(self.params.get("device", "auto")).type == "cpu"
        fields = {k: self.params[k] for k in ("dim", "heads", "dropout") if k in self.params}
        if "layers" in self.params:
            fields["encoder_layers"] = fields["decoder_layers"] = int(self.params["layers"])
        if "dim" in fields and "heads" not in fields:
            fields["heads"] = max(1, min(8, int(fields["dim"]) // 32))
        return seq2seq_config_for(n_pairs, self.tokenizer.vocab_size, on_cpu,
                                  max_source_len=MAX_SOURCE_TOKENS + 1,
                                  max_target_len=MAX_TARGET_TOKENS + 1, **fields)  # fmt: skip

    def fit(self, train: Any, val: Any) -> TransformerTranslator:
        """Learn the tokenizer and the model from ``train`` (a PairSet); ``val`` chooses the
        epoch kept."""
        chars = sum(map(len, train.sources)) + sum(map(len, train.targets))
        size = int(self.params.get("vocab_size") or vocab_size_for(chars))
        self.tokenizer = PairTokenizer(size).fit(train.sources, train.targets)
        sources = [s[:MAX_SOURCE_TOKENS] for s in self.tokenizer.encode(train.sources)]
        targets = [t[:MAX_TARGET_TOKENS] for t in self.tokenizer.encode(train.targets)]
        device = resolve_device(self.params.get("device", "auto"))
        config = self._config(len(train))
        torch.manual_seed(self.seed)
        model = Seq2Seq(config).to(device)
        max_tokens = int(self.params.get("max_tokens", MAX_TOKENS))
        batches = PairBatches(sources, targets, max_tokens, self.seed)
        smoothing = float(self.params.get("label_smoothing", LABEL_SMOOTHING))
        # evenly spread over the validation pairs: a corpus sorted by length (Tatoeba is) would
        # otherwise show the curve of its shortest sentences only
        spread = np.unique(np.linspace(0, len(val) - 1, min(VAL_PAIRS, len(val))).astype(int))
        val_sources = [val.sources[i] for i in spread] if len(val) else []
        val_targets = [val.targets[i] for i in spread] if len(val) else []
        total = self._steps(model, batches, smoothing, device, val_sources)
        per_epoch = int(self.params.get("steps_per_epoch") or np.clip(
            batches.per_pass, math.ceil(total / MAX_EPOCHS), math.ceil(total / MIN_EPOCHS)))  # fmt: skip
        epochs = max(1, math.ceil(total / per_epoch))
        state = {"epoch": 0, "step": 0}
        trainer: _TranslationTrainer

        def transform(batch: tuple) -> tuple:
            epoch = len(trainer.history) + 1
            if epoch != state["epoch"]:
                state["epoch"], state["step"] = epoch, 0
            step = (epoch - 1) * per_epoch + state["step"]
            state["step"] += 1
            source, target_in, target_out = batches.batch(step)
            return source.to(device), target_in.to(device), target_out.to(device)

        def score(net: Seq2Seq) -> dict[str, float]:
            from layerwise.tasks.text_to_text.scores import text_scores

            found = self._translate(net, val_sources, beam=1)
            loss = self._loss(net, val_sources, val_targets, smoothing, device)
            return {"val_loss": loss, "val_bleu": float(text_scores(found, val_targets)["bleu"])}

        trainer_config = TrainerConfig.from_params(
            self.params, self.seed,
            {"lr": LR, "weight_decay": WEIGHT_DECAY, "batch_size": 1},
            epochs=epochs, schedule="cosine", warmup_steps=int(np.clip(total // 25, 1, 4000)),
            monitor="val_bleu" if val_sources else "train_loss",
            mode="max" if val_sources else "min", shuffle=False, patience=None,
            clip_grad_norm=1.0, cpu_threads=self.params.get("cpu_threads"),
        )  # fmt: skip
        loss = lambda logits, target: smoothed_loss(logits, target, smoothing)  # noqa: E731
        trainer = _TranslationTrainer(model, loss, trainer_config, batch_transform=transform,
                                      score=score if val_sources else None)  # fmt: skip
        index = torch.arange(per_epoch)
        held = (torch.arange(1), torch.arange(1)) if val_sources else None
        self.history = trainer.fit((index, index), val=held)
        self.model = trainer.model.to("cpu").eval()
        return self

    def _steps(self, model: Seq2Seq, batches: PairBatches, smoothing: float,
               device: torch.device, val_sources: list[str]) -> int:  # fmt: skip
        """The steps asked for (``epochs`` x ``steps_per_epoch``, or epochs of a pass), else
        as many as fit ``time_limit`` (``CPU_BUDGET_S`` on a CPU): a few steps and one
        validation are timed on a copy of the model."""
        if self.params.get("epochs") is not None:
            per = int(self.params.get("steps_per_epoch") or batches.per_pass)
            return int(self.params["epochs"]) * per
        limit = self.params.get("time_limit")
        if limit is None and resolve_device(self.params.get("device", "auto")).type == "cpu":
            limit = CPU_BUDGET_S
        if limit is None:
            return min(MAX_STEPS, 20 * batches.per_pass)
        planned = self._planned()
        if planned is not None:
            return planned
        trial = copy.deepcopy(model).train()
        optimizer = torch.optim.AdamW(trial.parameters(), lr=1e-6)
        threads = torch.get_num_threads()
        if self.params.get("cpu_threads") is not None:
            torch.set_num_threads(int(self.params["cpu_threads"]))
        times = []
        for step in range(4):
            source, target_in, target_out = (t.to(device) for t in batches.batch(step))
            started = time.perf_counter()
            optimizer.zero_grad()
            smoothed_loss(trial(source, target_in), target_out, smoothing).backward()
            optimizer.step()
            times.append(time.perf_counter() - started)
        started = time.perf_counter()
        if val_sources:
            with torch.no_grad():
                self._translate(trial.eval(), val_sources[:50], beam=1)
        validation = (time.perf_counter() - started) * len(val_sources) / 50
        torch.set_num_threads(threads)
        step_s = float(np.median(times[1:]))
        # validation runs 10 to 40 times; 15% spare for a busy machine
        budget = float(limit) / 1.15 - MIN_EPOCHS * 1.5 * validation
        steps = int(np.clip(budget / max(step_s, 1e-6), 1, MAX_STEPS))
        self.notes.append(f"transformer: {steps} steps of ~{step_s * 1000:.0f} ms to fit "
                          f"{float(limit):.0f} s of training; give epochs or time_limit to "
                          "change it")  # fmt: skip
        if self.params.get("checkpoint_dir"):
            from layerwise.io import atomic_write

            atomic_write(Path(self.params["checkpoint_dir"]) / PLAN_FILE,
                         lambda p: p.write_text(json.dumps({"steps": steps})))  # fmt: skip
        return steps

    def _planned(self) -> int | None:
        folder = self.params.get("checkpoint_dir")
        if not (self.params.get("resume") and folder and (Path(folder) / PLAN_FILE).is_file()):
            return None
        try:
            steps = json.loads((Path(folder) / PLAN_FILE).read_text()[:1000])["steps"]
        except (ValueError, KeyError, TypeError):
            return None
        return steps if isinstance(steps, int) and 1 <= steps <= MAX_STEPS else None

    def _loss(self, net: Seq2Seq, sources: list[str], targets: list[str], smoothing: float,
              device: torch.device) -> float:  # fmt: skip
        """Mean label-smoothed loss per target token of ``net`` on the pairs."""
        total, count = 0.0, 0
        src = [s[:MAX_SOURCE_TOKENS] for s in self.tokenizer.encode(sources)]
        tgt = [t[:MAX_TARGET_TOKENS] for t in self.tokenizer.encode(targets)]
        for start in range(0, len(src), 64):
            source, target_in, target_out = make_batch(src[start : start + 64],
                                                       tgt[start : start + 64])  # fmt: skip
            n = int((target_out != IGNORE).sum())
            logits = net(source.to(device), target_in.to(device))
            total += float(smoothed_loss(logits, target_out.to(device), smoothing)) * n
            count += n
        return total / max(count, 1)

    # ---- translating ---------------------------------------------------------------------

    def _translate(self, net: Seq2Seq, texts: list[str], beam: int,
                   max_tokens: int | None = None, batch: int = 64) -> list[str]:  # fmt: skip
        """Outputs for ``texts``, in batches of similar length (less padding)."""
        from layerwise.tasks.text_to_text.batches import pad_rows

        ids = [s[:MAX_SOURCE_TOKENS] for s in self.tokenizer.encode(list(texts))]
        order = np.argsort([len(s) for s in ids], kind="stable")
        out: list[str] = [""] * len(ids)
        device = next(net.parameters()).device
        limit = None if max_tokens is None else min(int(max_tokens) + 1, net.config.max_target_len)
        for start in range(0, len(order), batch):
            chosen = order[start : start + batch]
            source = pad_rows([ids[i] if len(ids[i]) else np.array([2]) for i in chosen])
            source = source.to(device)
            if beam > 1:
                replies = net.beam_search(source, beam=beam, max_len=limit)
            else:
                replies = net.greedy(source, max_len=limit)
            for i, reply in zip(chosen, replies, strict=True):
                out[i] = self.tokenizer.decode(reply)
        return out

    def predict(self, texts: list[str], beam: int | None = None,
                max_tokens: int | None = None) -> list[str]:  # fmt: skip
        """The output text for each input (``beam`` 1: greedy; None: the run's)."""
        if self.model is None:
            raise ConfigError("The transformer is not fitted.", "Call fit() or load().")
        beam = self.beam if beam is None else int(beam)
        if not 1 <= beam <= 16:
            raise ConfigError(f"beam={beam} is not valid.", "Use a whole number from 1 to 16.")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"Input {i + 1} of {len(texts)} is empty.",
                                "Give a text to translate or reply to.")  # fmt: skip
        with torch.no_grad():
            return self._translate(self.model, list(texts), beam, max_tokens)

    # ---- the run folder ------------------------------------------------------------------

    def save(self, run: Any) -> dict[str, Any]:
        """Write the weights and the tokenizer; return what :meth:`load` needs (JSON-able)."""
        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(MODEL_FILE), self.model.state_dict())
        run.write_json(TOKENIZER_FILE, self.tokenizer.to_dict())
        return {"file": MODEL_FILE, "tokenizer": TOKENIZER_FILE, "seed": self.seed,
                "architecture": self.model.config.to_dict(), "beam": self.beam,
                "notes": list(self.notes)}  # fmt: skip

    @classmethod
    def load(cls, run: Any, info: dict[str, Any]) -> TransformerTranslator:
        """The model :meth:`save` wrote; shapes checked against the weights before anything
        is allocated (:func:`~layerwise.runs.weights.restore_module`)."""
        from layerwise.runs.weights import config_from, restore_module

        config = config_from(Seq2SeqConfig, info.get("architecture"), run)
        beam = info.get("beam", 1)
        if isinstance(beam, bool) or not isinstance(beam, int) or not 1 <= beam <= 16:
            raise RunFolderError(f"The transformer settings in '{run.path}' are not valid "
                                 f"(beam {beam!r}).", "Train again.")  # fmt: skip
        model = cls(seed=int(info.get("seed", 0)), beam=beam)
        raw = run.read_json(TOKENIZER_FILE)
        model.tokenizer = PairTokenizer.from_dict(raw, f"The tokenizer in '{run.path}'")
        if model.tokenizer.vocab_size != config.vocab_size:
            raise RunFolderError(f"The tokenizer in '{run.path}' does not match its model.",
                                 "Train again.")  # fmt: skip
        model.model = restore_module(run, info["file"], lambda: Seq2Seq(config)).eval()
        model.notes = [str(n) for n in info.get("notes", [])][:20]
        return model
