"""The user's own network for a table: a YAML model file (``layerwise train --model net.yaml``).

The network gets the standardised, one-hot encoded columns (the linear model's inputs); its
``input_shape`` is set from the data, so a file written for any width works. It competes in
the bake-off in the MLP's place and is saved as its YAML and safetensors weights.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.errors import ConfigError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.mlp import TorchCandidate

SPEC_FILE = "user_model.yaml"
WEIGHTS_FILE = "user_model.safetensors"


def read_model_file(path: str) -> dict[str, Any]:
    """Parse and check a YAML model file before any training (a typo fails here, naming it)."""
    from pathlib import Path

    import yaml

    from layerwise.nn.sequential import from_config

    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            f"Model file '{path}' does not exist.", "Pass the path of a YAML model file."
        )
    try:
        config = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"Model file '{path}' is not valid YAML: {error}") from error
    from_config({**config, "input_shape": None}, str(path))  # checks layer names and keys
    return config


class YAMLModelCandidate(TorchCandidate):
    """A network from a YAML model file, trained by ``layerwise.nn`` (the one engine).

    >>> YAMLModelCandidate("binary", 2, config={"layers": []}).family
    'deep'
    """

    name: ClassVar[str] = "yaml"
    family: ClassVar[str] = "deep"
    complexity: ClassVar[int] = 3
    description: ClassVar[str] = "the network of the user's YAML model file"

    def _build(self, n_features: int) -> Any:
        from layerwise.nn.sequential import from_config

        self.config = {**self.params["config"], "input_shape": [n_features]}
        model = from_config(self.config, self.params.get("source", ""))
        needed = (self.n_classes,) if self.is_classifier else (1,)
        if tuple(model.output_shape) != needed:
            raise ConfigError(
                f"The model file's network gives outputs of shape {tuple(model.output_shape)}; "
                f"this task needs {needed}.",
                f"Make its last layer Dense({needed[0]}"
                + (", activation: softmax)." if self.is_classifier else ")."),
            )
        return model

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        from layerwise.nn.callbacks import EarlyStopping

        x = encoder.one_hot(table).astype(np.float32)
        self.model = self._build(x.shape[1])
        if self.is_classifier:
            loss, target = "sparse_categorical_crossentropy", y
        else:
            loss, target = "mse", self.standardise(y)
        self.model.compile(optimizer="adam", loss=loss)
        self.history = self.model.fit(
            x, target,
            epochs=int(self.params.get("epochs", 200)),
            batch_size=int(self.params.get("batch_size", min(256, max(32, len(x) // 16)))),
            validation_split=0.15,
            callbacks=[EarlyStopping(patience=int(self.params.get("patience", 20)), restore_best_weights=True)],
            verbose=0,
            seed=self.seed,
        )  # fmt: skip

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        import torch

        output = np.asarray(
            self.model.predict(encoder.one_hot(table).astype(np.float32)), dtype=np.float64
        )
        if not self.is_classifier:
            return self.unstandardise(output[:, 0])
        if self.model.final_activation != "softmax":  # a network that ends in logits
            output = torch.softmax(torch.from_numpy(output), dim=1).numpy()
        return output

    def save(self, run: RunFolder) -> dict[str, Any]:
        from layerwise.nn.spec import dump_yaml

        run.write_text(SPEC_FILE, dump_yaml(self.config))
        return self.save_weights(run, WEIGHTS_FILE, spec=SPEC_FILE)

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> YAMLModelCandidate:
        from layerwise.nn.sequential import from_config

        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        model.config = run.read_yaml(info["spec"])
        spec = str(run.file(info["spec"]))
        model.restore(run, info, lambda: from_config(model.config, spec))
        return model
