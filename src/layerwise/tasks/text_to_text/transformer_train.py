"""The deep model of text-to-text: a Transformer encoder-decoder (:mod:`layerwise.models.seq2seq`)
trained by the engine's one training loop on token-count batches, against the clock.

Training: one byte-level BPE over both sides (:mod:`.tokens`), batches of at most
``max_tokens`` tokens (:mod:`.batches`), cross-entropy with label smoothing 0.1, AdamW with a
linear warmup and a cosine to zero over the planned steps. The model's size and the number of
steps come from the data and the time budget (:mod:`.transformer_plan`: the largest model that
still sees the pairs a few times; the cosine then ends inside the budget instead of being cut
off), and a resumed run keeps the plan it began with. An "epoch" here is a fixed number of
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

import math
import time
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.engine import Trainer, TrainerConfig
from layerwise.engine.config import resolve_device
from layerwise.engine.distributed import current_world, from_main, rank_share
from layerwise.errors import ConfigError, DataError, RunFolderError, check_option_names
from layerwise.models.seq2seq import Seq2Seq, Seq2SeqConfig
from layerwise.tasks.text_to_text.batches import IGNORE, PairBatches, make_batch
from layerwise.tasks.text_to_text.tokens import EOS_ID, PairTokenizer, vocab_size_for
from layerwise.tasks.text_to_text.transformer_plan import agreed_plan, epochs_for

MODEL_FILE, TOKENIZER_FILE = "transformer.safetensors", "tokenizer.json"
WEIGHT_DECAY, LABEL_SMOOTHING = 0.01, 0.1
# The peak learning rate falls with the width (3e-3 at dim 128, 1.5e-3 at 256, 7.5e-4 at 512):
# on Tatoeba en-fr at equal compute, dim 128 reached test BLEU 32.7 (beam 4) at 3e-3 and 27.4
# at 1e-3, dim 192 32.3 at 2e-3
LR_AT_128 = 3e-3


def peak_lr(dim: int) -> float:
    """The default peak learning rate of a model of width ``dim``.

    Example:
        >>> peak_lr(128), peak_lr(512)
        (0.003, 0.00075)
    """
    return LR_AT_128 * 128 / dim


MAX_TOKENS, MIN_TOKENS = 4096, 256  # tokens per batch, padding counted
MIN_STEPS_PER_PASS = 50
MAX_SOURCE_TOKENS, MAX_TARGET_TOKENS = 128, 128  # longer pairs are cut to these for training
LENGTHS = {"max_source_len": MAX_SOURCE_TOKENS + 1, "max_target_len": MAX_TARGET_TOKENS + 1}
VAL_PAIRS = 500  # validation pairs translated after each epoch (greedy) for the BLEU curve
PARAMS = ("epochs", "steps_per_epoch", "time_limit", "lr", "weight_decay", "max_tokens",
          "label_smoothing", "dim", "layers", "heads", "dropout", "vocab_size", "device",
          "progress", "checkpoint_dir", "resume", "cpu_threads", "beam")  # fmt: skip


def batch_tokens(sources: list[np.ndarray], targets: list[np.ndarray]) -> int:
    """Tokens per batch: ``MAX_TOKENS``, or fewer so that a pass over a small corpus still
    makes ``MIN_STEPS_PER_PASS`` updates (3,000 short pairs in 4,096-token batches would be 18
    steps a pass), at least ``MIN_TOKENS``.

    Example:
        >>> pairs = [np.arange(10)] * 3000
        >>> batch_tokens(pairs, pairs), batch_tokens(pairs * 100, pairs * 100)
        (1260, 4096)
    """
    total = sum(len(s) for s in sources) + sum(len(t) + 1 for t in targets)
    return int(np.clip(total // MIN_STEPS_PER_PASS, MIN_TOKENS, MAX_TOKENS))


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

    def fit(self, train: Any, val: Any) -> TransformerTranslator:
        """Learn the tokenizer and the model from ``train`` (a PairSet); ``val`` chooses the
        epoch kept."""
        chars = sum(map(len, train.sources)) + sum(map(len, train.targets))
        size = int(self.params.get("vocab_size") or vocab_size_for(chars))
        world = current_world()
        if world.main:
            self.tokenizer = PairTokenizer(size).fit(train.sources, train.targets)
        if world.distributed:  # rank 0's, so every rank's ids mean the same tokens
            tokenizer = from_main(self.tokenizer.to_dict() if world.main else None, world)
            self.tokenizer = PairTokenizer.from_dict(tokenizer)
        sources = [s[:MAX_SOURCE_TOKENS] for s in self.tokenizer.encode(train.sources)]
        targets = [t[:MAX_TARGET_TOKENS] for t in self.tokenizer.encode(train.targets)]
        device = resolve_device(self.params.get("device", "auto"))
        max_tokens = int(self.params.get("max_tokens") or batch_tokens(sources, targets))
        batches = PairBatches(sources, targets, max_tokens, self.seed)
        smoothing = float(self.params.get("label_smoothing", LABEL_SMOOTHING))
        # evenly spread over the validation pairs: a corpus sorted by length (Tatoeba is) would
        # otherwise show the curve of its shortest sentences only
        spread = np.unique(np.linspace(0, len(val) - 1, min(VAL_PAIRS, len(val))).astype(int))
        val_sources = [val.sources[i] for i in spread] if len(val) else []
        val_targets = [val.targets[i] for i in spread] if len(val) else []
        plan = agreed_plan(
            self.params, len(train), self.tokenizer.vocab_size, batches,
            lambda logits, target: smoothed_loss(logits, target, smoothing),
            lambda net: self._validation_seconds(net, val_sources, device), LENGTHS,
        )  # fmt: skip
        if plan.note:
            self.notes.append(plan.note)
        total = plan.steps
        torch.manual_seed(self.seed)
        model = Seq2Seq(plan.config).to(device)
        epochs, per_epoch = epochs_for(total, batches.per_pass)
        if self.params.get("steps_per_epoch"):
            per_epoch = int(self.params["steps_per_epoch"])
            epochs = max(1, math.ceil(total / per_epoch))
        state = {"epoch": 0, "step": 0}
        trainer: _TranslationTrainer

        def transform(batch: tuple) -> tuple:
            epoch = len(trainer.history) + 1
            if epoch != state["epoch"]:
                state["epoch"], state["step"] = epoch, 0
            step = (epoch - 1) * per_epoch + state["step"]
            state["step"] += 1
            chosen = rank_share(batches.indices(step), world)
            source, target_in, target_out = make_batch([batches.sources[i] for i in chosen],
                                                       [batches.targets[i] for i in chosen])  # fmt: skip
            return source.to(device), target_in.to(device), target_out.to(device)

        def score(net: Seq2Seq) -> dict[str, float]:
            from layerwise.tasks.text_to_text.scores import text_scores

            found = self._translate(net, val_sources, beam=1)
            loss = self._loss(net, val_sources, val_targets, smoothing, device)
            return {"val_loss": loss, "val_bleu": float(text_scores(found, val_targets)["bleu"])}

        trainer_config = TrainerConfig.from_params(
            self.params, self.seed,
            {"lr": peak_lr(plan.config.dim), "weight_decay": WEIGHT_DECAY, "batch_size": 1},
            epochs=epochs, schedule="cosine", warmup_steps=int(np.clip(total // 25, 1, 4000)),
            monitor="val_bleu" if val_sources else "train_loss",
            mode="max" if val_sources else "min", shuffle=False, patience=None,
            clip_grad_norm=1.0, cpu_threads=self.params.get("cpu_threads"),
        )  # fmt: skip
        loss = lambda logits, target: smoothed_loss(logits, target, smoothing)  # noqa: E731
        trainer = _TranslationTrainer(model, loss, trainer_config, batch_transform=transform,
                                      score=score if val_sources else None)  # fmt: skip
        # every rank takes every step of the epoch, on its share of the step's pairs
        index = torch.arange(per_epoch * world.size)
        held = (torch.arange(1), torch.arange(1)) if val_sources else None
        self.history = trainer.fit((index, index), val=held)
        self.model = trainer.model.to("cpu").eval()
        return self

    def _validation_seconds(self, net: Seq2Seq, sources: list[str], device: Any) -> float:
        """Seconds one validation of ``net`` takes, timed on up to 50 of ``sources``."""
        if not sources:
            return 0.0
        started = time.perf_counter()
        with torch.no_grad():
            self._translate(net.to(device).eval(), sources[:50], beam=1)
        return (time.perf_counter() - started) * len(sources) / min(len(sources), 50)

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
            source = pad_rows([ids[i] if len(ids[i]) else np.array([EOS_ID]) for i in chosen])
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
        beam = self.beam if beam is None else beam
        if isinstance(beam, bool) or not isinstance(beam, int) or not 1 <= beam <= 16:
            raise ConfigError(f"beam={beam!r} is not valid.", "Use a whole number from 1 to 16.")
        longest = MAX_TARGET_TOKENS
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(
                max_tokens, int) or not 1 <= max_tokens <= longest):  # fmt: skip
            raise ConfigError(f"max_tokens={max_tokens!r} is not valid.",
                              f"Use a whole number from 1 to {longest}, or leave it out.")  # fmt: skip
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
