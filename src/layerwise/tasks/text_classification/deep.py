"""The deep candidates for text: a small Transformer encoder and a CNN over token embeddings,
both on a subword vocabulary trained on the training texts, trained by the engine with early
stopping on validation loss; saved as safetensors + the tokenizer's JSON + their config."""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder


def _accuracy(outputs: Any, targets: Any) -> float:
    return float((outputs.argmax(dim=1) == targets).float().mean())


class TextDeepCandidate(Candidate):
    """What the two deep text models share: tokenise, train with the engine, predict, save.

    ``params``: vocab_size, tokenizer ("wordpiece" | "bpe"), max_length, epochs, batch_size,
    lr, weight_decay, patience, time_limit, device, progress, checkpoint_dir, resume, and
    the architecture's own fields (see the model configs).
    """

    family: ClassVar[str] = "deep"
    model_file: ClassVar[str]
    architecture: ClassVar[str]  # "module:Class" of the nn.Module; its config is <Class>Config
    config_fields: ClassVar[tuple[str, ...]]  # params passed on to the config when given

    @classmethod
    def _classes(cls) -> tuple[Any, Any]:
        module_name, name = cls.architecture.split(":")
        module = importlib.import_module(module_name)
        return getattr(module, name), getattr(module, f"{name}Config")

    @classmethod
    def _module(cls, config: Any) -> Any:
        return cls._classes()[0](config)

    def _config(self, vocab_size: int) -> Any:
        given = {k: self.params[k] for k in self.config_fields if k in self.params}
        return self._classes()[1](vocab_size=vocab_size, n_classes=max(self.n_classes, 2), **given)

    def fit(self, train: Any, val: Any, class_weights: np.ndarray | None = None) -> None:
        """Train on ``train`` (a TextSet), early-stopping on ``val``."""
        import torch

        from layerwise.data.tokenizer import TextTokenizer
        from layerwise.engine import Trainer, TrainerConfig
        from layerwise.engine.distributed import agreed, current_world

        torch.manual_seed(self.seed)
        self.tokenizer = TextTokenizer(
            kind=self.params.get("tokenizer", "wordpiece"),
            vocab_size=int(self.params.get("vocab_size", 8000)),
            max_length=int(self.params.get("max_length", 128)),
        ).fit(train.texts)
        if current_world().distributed:
            # one vocabulary for every rank, rank 0's: a token's id is a row of the embedding
            # DDP keeps alike on all ranks, so a vocabulary trained apart must not differ
            self.tokenizer = TextTokenizer.from_dict(agreed(self.tokenizer.to_dict()))
        self.model = self._module(self._config(self.tokenizer.vocab_size_actual))
        ids, _ = self.tokenizer.encode(train.texts)
        val_ids, _ = self.tokenizer.encode(val.texts)
        y = torch.from_numpy(train.labels.astype(np.int64))
        yv = torch.from_numpy(val.labels.astype(np.int64))
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        config = TrainerConfig.from_params(
            self.params,
            self.seed,
            {"epochs": 30, "batch_size": 64, "lr": 1e-3, "weight_decay": 0.01,
             "warmup_steps": 100, "patience": 4},
            schedule="cosine",
            clip_grad_norm=1.0,
        )  # fmt: skip
        trainer = Trainer(self.model, loss_fn, config, {"accuracy": _accuracy})
        self.history = trainer.fit((ids, y), val=(val_ids, yv))
        self.stopped_reason = trainer.stopped_reason
        self.model = trainer.model.to("cpu").eval()

    def predict(self, texts: list[str]) -> np.ndarray:
        """Class probabilities ``[n, k]``."""
        import torch

        parts = []
        with torch.no_grad():
            for start in range(0, len(texts), 512):
                ids, _ = self.tokenizer.encode(list(texts[start : start + 512]))
                parts.append(torch.softmax(self.model(ids).float(), dim=1))
        if not parts:
            return np.zeros((0, max(self.n_classes, 2)))
        return torch.cat(parts).double().numpy()

    def save(self, run: RunFolder) -> dict[str, Any]:
        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(self.model_file), self.model.state_dict())
        tokenizer_file = f"tokenizer.{self.name}.json"  # each deep model has its own vocabulary
        self.tokenizer.save(run.file(tokenizer_file))
        return {
            "file": self.model_file,
            "tokenizer": tokenizer_file,
            "architecture": self.model.config.to_dict(),
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> TextDeepCandidate:
        from layerwise.data.tokenizer import TextTokenizer
        from layerwise.runs.weights import config_from, restore_module

        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        model.tokenizer = TextTokenizer.load(run.file(info["tokenizer"]))
        config = config_from(cls._classes()[1], info["architecture"], run)
        model.model = restore_module(run, info["file"], lambda: cls._module(config)).eval()
        return model


class TransformerCandidate(TextDeepCandidate):
    """A small pre-norm Transformer encoder with learned positions and mean pooling.

    >>> TransformerCandidate("binary", n_classes=2).family
    'deep'
    """

    name: ClassVar[str] = "transformer"
    complexity: ClassVar[int] = 4
    description: ClassVar[str] = "small Transformer encoder over subword tokens"
    model_file: ClassVar[str] = "model.transformer.safetensors"

    architecture: ClassVar[str] = "layerwise.models.text_transformer:TextTransformer"
    config_fields: ClassVar[tuple[str, ...]] = (
        "max_length", "dim", "depth", "heads", "mlp_ratio", "dropout", "token_dropout",
    )  # fmt: skip


class TextCNNCandidate(TextDeepCandidate):
    """Kim (2014)-style CNN: parallel convolutions of 3, 4 and 5 tokens, max-pooled.

    >>> TextCNNCandidate("binary", n_classes=2).complexity
    3
    """

    name: ClassVar[str] = "text-cnn"
    complexity: ClassVar[int] = 3
    description: ClassVar[str] = "CNN over token embeddings (Kim 2014)"
    model_file: ClassVar[str] = "model.textcnn.safetensors"

    architecture: ClassVar[str] = "layerwise.models.text_cnn:TextCNN"
    config_fields: ClassVar[tuple[str, ...]] = ("dim", "kernel_sizes", "channels", "dropout")
