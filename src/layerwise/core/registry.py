"""A tiny registry: name -> "module:attribute", imported only when asked for."""

from __future__ import annotations

import importlib
from typing import Any

from layerwise.errors import ConfigError, closest


class Registry:
    """Maps names to lazily imported objects.

    >>> r = Registry("thing")
    >>> r.register("json-dumps", "json:dumps", "serialise to JSON")
    >>> r.get("json-dumps")({"a": 1})
    '{"a": 1}'
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._targets: dict[str, str] = {}
        self._descriptions: dict[str, str] = {}

    def register(self, name: str, target: str, description: str = "") -> None:
        self._targets[name] = target
        self._descriptions[name] = description

    def names(self) -> list[str]:
        return list(self._targets)

    def describe(self) -> dict[str, str]:
        return dict(self._descriptions)

    def __contains__(self, name: str) -> bool:
        return name in self._targets

    def get(self, name: str) -> Any:
        if name not in self._targets:
            guess = closest(name, self._targets)
            hint = f"Did you mean '{guess}'? " if guess else ""
            raise ConfigError(
                f"Unknown {self.kind} '{name}'.",
                f"{hint}Valid {self.kind}s: {', '.join(self._targets)}.",
            )
        module_name, attr = self._targets[name].split(":")
        return getattr(importlib.import_module(module_name), attr)


TASKS = Registry("task")
TASKS.register(
    "tabular-classification",
    "layerwise.tasks.tabular.classification:TabularClassification",
    "Predict a category from a table (CSV, Parquet, JSONL, DataFrame); LightGBM, linear and MLP compared.",
)
TASKS.register(
    "tabular-regression",
    "layerwise.tasks.tabular.regression:TabularRegression",
    "Predict a number from a table; LightGBM, ridge and MLP compared.",
)
TASKS.register(
    "image-classification",
    "layerwise.tasks.image_classification.task:ImageClassification",
    "Classify images (folder per class, NPZ, IDX, CSV of paths); a CNN vs logistic on pixels.",
)
TASKS.register(
    "text-classification",
    "layerwise.tasks.text_classification.task:TextClassification",
    "Classify texts (sentiment, spam, topics); Transformer and CNN vs TF-IDF and NB-SVM.",
)
TASKS.register(
    "forecasting",
    "layerwise.tasks.forecasting.task:Forecasting",
    "Forecast time series with intervals; PatchTST, DLinear, SegRNN vs ridge, ETS and naive.",
)
TASKS.register(
    "anomaly-detection",
    "layerwise.tasks.anomaly_detection.task:AnomalyDetection",
    "Find unusual rows or fraud; autoencoder, Deep SVDD vs isolation forest, kNN, Mahalanobis.",
)
TASKS.register(
    "speech-recognition",
    "layerwise.tasks.speech_recognition.task:SpeechRecognition",
    "Recognise spoken words and transcribe recordings (WAV); log-mel CNN + CTC vs MFCC logistic.",
)
TASKS.register(
    "recommendation",
    "layerwise.tasks.recommendation.task:Recommendation",
    "Recommend items from interaction logs; MF-BPR, NeuMF, SASRec vs EASE, item-kNN, popularity.",
)
TASKS.register(
    "language-generation",
    "layerwise.tasks.language_generation.task:LanguageGeneration",
    "Generate text like yours; a small GPT (char or BPE) vs a Kneser-Ney n-gram model.",
)
TASKS.register(
    "image-generation",
    "layerwise.tasks.image_generation.task:ImageGeneration",
    "Generate images like yours (optionally of a class); a DCGAN and a VAE vs pixel mixtures.",
)
TASKS.register(
    "reinforcement-learning",
    "layerwise.tasks.reinforcement_learning.task:ReinforcementLearning",
    "Play games and control systems (Gymnasium); PPO and DQN vs a random policy.",
)
