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
        self._cli: dict[str, str] = {}

    def register(self, name: str, target: str, description: str = "", cli: str = "") -> None:
        """``cli``: "module:attribute" of what the entry adds to the command line (a
        :class:`~layerwise.core.cli_spec.CommandLine`), read without importing ``target``."""
        self._targets[name] = target
        self._descriptions[name] = description
        if cli:
            self._cli[name] = cli

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
        return _resolve(self._targets[name])

    def cli(self, name: str) -> Any:
        """What ``name`` adds to the command line, or None; its target stays unimported."""
        return _resolve(self._cli[name]) if name in self._cli else None


def _resolve(target: str) -> Any:
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


TASKS = Registry("task")
TASKS.register(
    "tabular-classification",
    "layerwise.tasks.tabular.classification:TabularClassification",
    "Predict a category from a table (CSV, Parquet, JSONL, DataFrame); LightGBM, linear and MLP compared.",
    cli="layerwise.tasks.tabular.cli:COMMAND_LINE",
)
TASKS.register(
    "tabular-regression",
    "layerwise.tasks.tabular.regression:TabularRegression",
    "Predict a number from a table; LightGBM, ridge and MLP compared.",
    cli="layerwise.tasks.tabular.cli:COMMAND_LINE",
)
TASKS.register(  # before image-classification: its folders hold images too
    "object-detection",
    "layerwise.tasks.object_detection.task:ObjectDetection",
    "Find objects in photos (VOC XML, COCO JSON, YOLO txt); CenterNet vs HOG + linear SVM.",
    cli="layerwise.tasks.object_detection.cli:COMMAND_LINE",
)
TASKS.register(  # before image-classification too: images/ + masks/ would look like 2 classes
    "segmentation",
    "layerwise.tasks.segmentation.task:Segmentation",
    "Outline objects pixel by pixel (cells, lesions, scans); a U-Net vs a pixel forest.",
    cli="layerwise.tasks.segmentation.cli:COMMAND_LINE",
)
TASKS.register(
    "image-classification",
    "layerwise.tasks.image_classification.task:ImageClassification",
    "Classify images (folder per class, NPZ, IDX, CSV of paths); a CNN vs logistic on pixels.",
    cli="layerwise.tasks.image_classification.cli:COMMAND_LINE",
)
TASKS.register(  # before the text tasks: a column of SMILES is text too
    "molecular-property",
    "layerwise.tasks.molecules.task:MolecularProperty",
    "Predict molecules' properties from SMILES (CSV, SDF); a D-MPNN vs ECFP + forest, descriptors + LightGBM.",
    cli="layerwise.tasks.molecules.cli:COMMAND_LINE",
)
TASKS.register(
    "text-to-text",
    "layerwise.tasks.text_to_text.task:TextToText",
    "Translate or reply (sentence pairs: TSV, tables, parallel files); a Transformer vs a translation memory.",
    cli="layerwise.tasks.text_to_text.cli:COMMAND_LINE",
)
TASKS.register(
    "text-classification",
    "layerwise.tasks.text_classification.task:TextClassification",
    "Classify texts (sentiment, spam, topics); Transformer and CNN vs TF-IDF and NB-SVM.",
    cli="layerwise.tasks.text_classification.cli:COMMAND_LINE",
)
TASKS.register(
    "forecasting",
    "layerwise.tasks.forecasting.task:Forecasting",
    "Forecast time series with intervals; PatchTST, DLinear, SegRNN vs ridge, ETS and naive.",
    cli="layerwise.tasks.forecasting.cli:COMMAND_LINE",
)
TASKS.register(
    "anomaly-detection",
    "layerwise.tasks.anomaly_detection.task:AnomalyDetection",
    "Find unusual rows or fraud; autoencoder, Deep SVDD vs isolation forest, kNN, Mahalanobis.",
    cli="layerwise.tasks.anomaly_detection.cli:COMMAND_LINE",
)
TASKS.register(
    "speech-recognition",
    "layerwise.tasks.speech_recognition.task:SpeechRecognition",
    "Recognise spoken words and transcribe recordings (WAV); log-mel CNN + CTC vs MFCC logistic.",
    cli="layerwise.tasks.speech_recognition.cli:COMMAND_LINE",
)
TASKS.register(
    "recommendation",
    "layerwise.tasks.recommendation.task:Recommendation",
    "Recommend items from interaction logs; MF-BPR, NeuMF, SASRec vs EASE, item-kNN, popularity.",
    cli="layerwise.tasks.recommendation.cli:COMMAND_LINE",
)
TASKS.register(
    "language-generation",
    "layerwise.tasks.language_generation.task:LanguageGeneration",
    "Generate text like yours; a small GPT (char or BPE) vs a Kneser-Ney n-gram model.",
    cli="layerwise.tasks.language_generation.cli:COMMAND_LINE",
)
TASKS.register(
    "image-generation",
    "layerwise.tasks.image_generation.task:ImageGeneration",
    "Generate images like yours (optionally of a class); a DCGAN and a VAE vs pixel mixtures.",
    cli="layerwise.tasks.image_generation.cli:COMMAND_LINE",
)
TASKS.register(
    "reinforcement-learning",
    "layerwise.tasks.reinforcement_learning.task:ReinforcementLearning",
    "Play games and control systems (Gymnasium); PPO and DQN vs a random policy.",
    cli="layerwise.tasks.reinforcement_learning.cli:COMMAND_LINE",
)
