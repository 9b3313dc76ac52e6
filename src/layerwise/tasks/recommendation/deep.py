"""The embedding recommenders of the recommendation task, trained by the one engine.

- ``MFBPR``: matrix factorisation with the BPR loss (Rendle et al. 2009): each training
  interaction against one uniformly drawn item, ``-log sigmoid(s_pos - s_neg)``.
- ``NeuMFRanker``: NeuMF (He et al. 2017) with binary cross-entropy on each positive and
  ``negatives`` (4) uniformly drawn items, as in the paper.
- ``MFRating``: biased matrix factorisation fitted to the ratings by mean squared error.

The negatives are drawn with ``torch.randint`` inside the loss, from the generator the engine
seeds, so a seed gives the same model on the CPU. The ranking candidates early-stop on the
validation users' full-ranking NDCG@10 and keep the best epoch; the rating model on the
validation MSE. A user the model never saw (index -1) gets the model's default row: the item
biases for MF (popularity as BPR learns it), the mean user's scores for NeuMF.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.tasks.recommendation.base import Interactions, RatingModel, Recommender

SCORE_USERS = 1024  # users scored per batch
PREDICT_PAIRS = 1 << 16  # (user, item) pairs predicted per batch


def validation_triple(
    train: Interactions, val: tuple[np.ndarray, list[np.ndarray]] | None
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]] | None:
    """``(users, training histories, held)`` for :class:`RankingTrainer` from ``val``."""
    if val is None or len(val[0]) == 0:
        return None
    users = np.asarray(val[0], dtype=np.int64)
    histories = train.histories()
    empty = np.zeros(0, dtype=np.int64)
    return users, [histories[u] if u >= 0 else empty for u in users], list(val[1])


def score_users(model: Any, users: np.ndarray) -> np.ndarray:
    """``model.full_scores`` for ``users`` in batches, without gradients, as float32 on the CPU;
    rows of users ``-1`` are ``model.default_scores()``. Runs on the model's device."""
    import torch

    device = next(model.parameters()).device
    users = np.asarray(users, dtype=np.int64)
    out = np.empty((len(users), model.config.n_items), dtype=np.float32)
    known = np.flatnonzero(users >= 0)
    with torch.no_grad():
        for start in range(0, len(known), SCORE_USERS):
            rows = known[start : start + SCORE_USERS]
            batch = torch.from_numpy(users[rows]).to(device)
            out[rows] = model.full_scores(batch).float().cpu().numpy()
        if len(known) < len(users):
            out[users < 0] = model.default_scores().float().cpu().numpy()
    return out


def save_module(run: RunFolder, prefix: str, model: Any, **extra: Any) -> dict[str, Any]:
    """Write ``model``'s weights to ``<prefix>.safetensors``; the info to rebuild it."""
    from layerwise.engine.checkpoint import save_weights

    file = f"{prefix}.safetensors"
    save_weights(run.file(file), model.state_dict())
    return {"file": file, "architecture": model.config.to_dict(), **extra}


def load_module(run: RunFolder, info: dict[str, Any], module: type, config: type) -> Any:
    """The module saved by :func:`save_module`, on the CPU in eval mode."""
    from layerwise.runs.weights import config_from, restore_module

    built = config_from(config, info["architecture"], run)
    return restore_module(run, info["file"], lambda: module(built)).eval()


class EmbeddingRanker(Recommender):
    """What MF-BPR and NeuMF share: building the model, training it with
    :class:`RankingTrainer`, scoring, item similarity, saving and loading.

    Subclasses give ``_build(train)``, ``_step_loss(model, batch)`` and the engine
    ``defaults``; every engine option can be overridden through the params.
    """

    family: ClassVar[str] = "deep"
    defaults: ClassVar[dict[str, Any]] = {}
    model: Any = None

    def _build(self, train: Interactions) -> Any:
        raise NotImplementedError

    def _step_loss(self, model: Any, batch: tuple[Any, ...]) -> Any:
        raise NotImplementedError

    def fit(
        self, train: Interactions, val: tuple[np.ndarray, list[np.ndarray]] | None = None
    ) -> None:
        import torch

        from layerwise.tasks.recommendation.train import RankingTrainer, ranking_config

        torch.manual_seed(self.seed)
        self.n_items = train.n_items
        self.model = self._build(train)
        trainer = RankingTrainer(
            self.model,
            self._step_loss,
            ranking_config(self.params, self.seed, **self.defaults),
            scorer=lambda users, histories: score_users(trainer.model, users),
            validation=validation_triple(train, val),
            n_items=train.n_items,
        )
        tensors = (torch.from_numpy(train.users.astype(np.int64)),
                   torch.from_numpy(train.items.astype(np.int64)))  # fmt: skip
        self.history = trainer.fit_ranking(tensors)
        self.model = trainer.model.to("cpu").eval()

    def _check_fitted(self) -> None:
        if self.model is None:
            raise RuntimeError(f"The {self.name} recommender is not fitted: call fit() first.")

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        return score_users(self.model, users)

    def similar(self, items: np.ndarray) -> np.ndarray:
        """Cosine similarity of the item vectors, ``[len(items), n_items]``."""
        import torch

        self._check_fitted()
        with torch.no_grad():
            vectors = torch.nn.functional.normalize(self.model.item_vectors(), dim=1)
            index = torch.as_tensor(np.asarray(items, dtype=np.int64))
            return (vectors[index] @ vectors.T).numpy().astype(np.float32)

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        self._check_fitted()
        return save_module(run, prefix, self.model, name=self.name, seed=self.seed)

    @classmethod
    def _load(cls, run: RunFolder, info: dict[str, Any], module: type, config: type) -> Any:
        ranker = cls(seed=info.get("seed", 0))
        ranker.model = load_module(run, info, module, config)
        ranker.n_items = ranker.model.config.n_items
        return ranker


class MFBPR(EmbeddingRanker):
    """Matrix factorisation trained by BPR with one uniform negative per interaction.

    Params: dim (64), reg (1e-2: L2 on the batch's embeddings, per interaction), and the
    engine's epochs (100), batch_size (4096), lr (5e-3), weight_decay (0), patience (5),
    time_limit, device, checkpoint_dir, resume, progress (False), cpu_threads (1: small
    models train fastest on one thread, and don't slow down other trainings), schedule.
    """

    name: ClassVar[str] = "mf-bpr"
    complexity: ClassVar[int] = 2
    description: ClassVar[str] = "matrix factorisation, BPR loss with sampled negatives"
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 100, "batch_size": 4096, "lr": 5e-3, "weight_decay": 0.0,
        "patience": 5, "progress": False, "schedule": "constant", "cpu_threads": 1,
    }  # fmt: skip

    def _build(self, train: Interactions) -> Any:
        from layerwise.models.matrix_factorization import MatrixFactorization, MFConfig

        dim = int(self.params.get("dim", 64))
        return MatrixFactorization(MFConfig(train.n_users, train.n_items, dim=dim))

    def _step_loss(self, model: Any, batch: tuple[Any, ...]) -> Any:
        import torch
        import torch.nn.functional as F

        users, items = batch
        negatives = torch.randint(0, model.config.n_items, items.shape, device=items.device)
        u = model.user_embedding(users)
        pos, neg = model.item_embedding(items), model.item_embedding(negatives)
        diff = (u * (pos - neg)).sum(-1) + model.item_bias[items] - model.item_bias[negatives]
        reg = float(self.params.get("reg", 1e-2))
        penalty = (u.pow(2) + pos.pow(2) + neg.pow(2)).sum(-1).mean()
        return -F.logsigmoid(diff).mean() + reg * penalty

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> MFBPR:
        from layerwise.models.matrix_factorization import MatrixFactorization, MFConfig

        return cls._load(run, info, MatrixFactorization, MFConfig)


class NeuMFRanker(EmbeddingRanker):
    """NeuMF trained by binary cross-entropy: each interaction is a positive, ``negatives``
    uniformly drawn items per positive are negatives.

    Params: dim (32, GMF factors), mlp_dim (32), layers ([64, 32, 16]), dropout (0),
    negatives (4), and the engine's epochs (60), batch_size (4096), lr (5e-3),
    weight_decay (0), patience (5), cpu_threads (1), time_limit, device, checkpoint_dir,
    resume, progress.
    """

    name: ClassVar[str] = "neumf"
    complexity: ClassVar[int] = 3
    description: ClassVar[str] = "NeuMF (GMF + MLP), BCE with 4 sampled negatives"
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 60, "batch_size": 4096, "lr": 5e-3, "weight_decay": 0.0,
        "patience": 5, "progress": False, "schedule": "constant", "cpu_threads": 1,
    }  # fmt: skip

    def _build(self, train: Interactions) -> Any:
        from layerwise.models.neumf import NeuMF, NeuMFConfig

        p = self.params
        config = NeuMFConfig(
            train.n_users,
            train.n_items,
            dim=int(p.get("dim", 32)),
            mlp_dim=int(p.get("mlp_dim", 32)),
            layers=list(p.get("layers", [64, 32, 16])),
            dropout=float(p.get("dropout", 0.0)),
        )
        return NeuMF(config)

    def _step_loss(self, model: Any, batch: tuple[Any, ...]) -> Any:
        import torch
        import torch.nn.functional as F

        users, items = batch
        k = int(self.params.get("negatives", 4))
        negatives = torch.randint(0, model.config.n_items, (len(items) * k,), device=items.device)
        logits = model(users.repeat(k + 1), torch.cat([items, negatives]))
        labels = torch.zeros_like(logits)
        labels[: len(items)] = 1.0
        return F.binary_cross_entropy_with_logits(logits, labels)

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> NeuMFRanker:
        from layerwise.models.neumf import NeuMF, NeuMFConfig

        return cls._load(run, info, NeuMF, NeuMFConfig)


class MFRating(RatingModel):
    """Biased matrix factorisation ``mu + b_u + b_i + p_u . q_i`` fitted by mean squared error
    to the ratings, centred on their training mean; early-stops on the validation MSE.

    An unseen user or item (index -1) falls back to the terms that exist: the mean plus the
    known bias. Params: dim (32), and the engine's epochs (100), batch_size (2048),
    lr (2e-3), optimizer ("adam"), weight_decay (1e-4), patience (5), cpu_threads (1),
    time_limit, device, progress (False).
    """

    name: ClassVar[str] = "mf-rating"
    family: ClassVar[str] = "deep"
    description: ClassVar[str] = "biased matrix factorisation, squared error"
    model: Any = None
    mean: float = 0.0

    def _config(self) -> Any:
        from layerwise.engine import TrainerConfig

        keys = ("epochs", "batch_size", "lr", "weight_decay", "patience", "time_limit", "device",
                "checkpoint_dir", "resume", "progress", "cpu_threads", "optimizer", "schedule")  # fmt: skip
        # Adam's coupled weight decay is an L2 penalty; AdamW's decoupled one barely
        # regularised (test RMSE 1.03 against 0.98 on a generated 100k-rating log).
        defaults = {"epochs": 100, "batch_size": 2048, "lr": 2e-3, "optimizer": "adam",
                    "weight_decay": 1e-4, "patience": 5, "progress": False, "cpu_threads": 1}  # fmt: skip
        options = {**defaults, **{k: self.params[k] for k in keys if k in self.params}}
        return TrainerConfig(seed=self.seed, **options)

    def _tensors(self, data: Interactions) -> tuple[Any, ...]:
        import torch

        known = (data.users >= 0) & (data.items >= 0)
        ratings = np.asarray(data.ratings, dtype=np.float32)[known] - np.float32(self.mean)
        return (torch.from_numpy(data.users[known].astype(np.int64)),
                torch.from_numpy(data.items[known].astype(np.int64)),
                torch.from_numpy(ratings))  # fmt: skip

    def fit(self, train: Interactions, val: Interactions | None = None) -> None:
        import torch

        from layerwise.engine import Trainer
        from layerwise.models.matrix_factorization import MatrixFactorization, MFConfig

        if train.ratings is None:
            raise ValueError("MFRating needs explicit ratings (train.ratings is None).")
        self.mean = float(np.mean(train.ratings)) if len(train) else 0.0
        torch.manual_seed(self.seed)
        dim = int(self.params.get("dim", 32))
        config = MFConfig(train.n_users, train.n_items, dim=dim, biases=True)
        trainer = Trainer(MatrixFactorization(config), torch.nn.functional.mse_loss,
                          self._config())  # fmt: skip
        has_val = val is not None and val.ratings is not None and len(val) > 0
        self.history = trainer.fit(
            self._tensors(train), val=self._tensors(val) if has_val else None
        )
        self.model = trainer.model.to("cpu").eval()

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        import torch

        if self.model is None:
            raise RuntimeError("The mf-rating model is not fitted: call fit() first.")
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        out = np.empty(len(users), dtype=np.float64)
        m = self.model
        with torch.no_grad():
            for start in range(0, len(users), PREDICT_PAIRS):
                u = torch.from_numpy(users[start : start + PREDICT_PAIRS])
                i = torch.from_numpy(items[start : start + PREDICT_PAIRS])
                has_u, has_i = u >= 0, i >= 0
                u, i = u.clamp(min=0), i.clamp(min=0)
                dot = (m.user_embedding(u) * m.item_embedding(i)).sum(-1) * (has_u & has_i)
                value = m.offset + dot + m.user_bias[u] * has_u + m.item_bias[i] * has_i
                out[start : start + len(u)] = value.double().numpy() + self.mean
        return out

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        if self.model is None:
            raise RuntimeError("The mf-rating model is not fitted: call fit() first.")
        return save_module(run, prefix, self.model, name=self.name, seed=self.seed,
                           mean=self.mean)  # fmt: skip

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> MFRating:
        from layerwise.models.matrix_factorization import MatrixFactorization, MFConfig

        rating = cls(seed=info.get("seed", 0))
        rating.model = load_module(run, info, MatrixFactorization, MFConfig)
        rating.mean = float(info["mean"])
        return rating
