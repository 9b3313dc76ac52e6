"""The one training engine for every gradient-trained model in layerwise.

Example:
    >>> import torch
    >>> from layerwise.engine import Trainer, TrainerConfig
    >>> x, y = torch.randn(32, 2), torch.randn(32, 1)
    >>> trainer = Trainer(torch.nn.Linear(2, 1), torch.nn.functional.mse_loss,
    ...                   TrainerConfig(epochs=1, progress=False))
    >>> len(trainer.fit((x, y)))
    1
"""

from layerwise.engine.callbacks import EarlyStopping, History
from layerwise.engine.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from layerwise.engine.config import TrainerConfig
from layerwise.engine.progress import TrainingProgress
from layerwise.engine.trainer import Trainer

__all__ = [
    "EarlyStopping",
    "History",
    "Trainer",
    "TrainerConfig",
    "TrainingProgress",
    "load_checkpoint",
    "load_weights",
    "save_checkpoint",
    "save_weights",
]
