"""torch.compile through the engine (slow: compiling takes a while on the CPU)."""

from __future__ import annotations

import pytest
import torch

from layerwise.engine import Trainer, TrainerConfig

pytestmark = pytest.mark.slow


def test_compiled_training_matches_eager():
    x = torch.randn(64, 6)
    y = (x[:, 0] > 0).long()
    outputs = []
    for compile_model in (False, True):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        config = TrainerConfig(epochs=2, batch_size=16, progress=False, compile=compile_model)
        trainer = Trainer(net, torch.nn.functional.cross_entropy, config)
        trainer.fit((x, y))
        outputs.append(trainer.predict(x))
        assert all(not k.startswith("_orig_mod") for k in trainer.model.state_dict())
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-4, rtol=1e-4)
