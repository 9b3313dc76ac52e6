"""The ResNet-style CNN: sizing, shapes, inputs, weights files, ONNX export and learning."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from torch import nn

from layerwise.errors import ConfigError
from layerwise.models.resnet import BasicBlock, ResNet, ResNetConfig, resnet_config_for


def tiny(side: int = 16, channels: int = 1, n_classes: int = 3, **extra) -> ResNet:
    config = ResNetConfig(channels, n_classes, side, side, widths=[8, 16], blocks=[1, 1], **extra)
    return ResNet(config)


def warmed(model: ResNet, side: int) -> ResNet:
    """Non-trivial weights and BatchNorm statistics, as after some training."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        model.train()
        model(torch.rand(16, model.config.in_channels, side, side))
    return model.eval()


# side -> (stages, stem stride, max-pool stem, last feature map side)
SIZING = {
    8: (2, 1, False, 4),
    28: (3, 1, False, 7),
    32: (3, 1, False, 8),
    64: (4, 1, False, 8),
    128: (4, 2, False, 8),
    224: (4, 2, True, 7),
}


@pytest.mark.parametrize("side", sorted(SIZING))
def test_config_is_sized_to_the_resolution(side):
    stages, stride, pool, last = SIZING[side]
    config = resnet_config_for(3, 10, side, side, width_multiplier=0.25)
    assert (len(config.widths), config.stem_stride, config.pool_stem) == (stages, stride, pool)
    assert len(config.blocks) == stages
    model = ResNet(config).eval()
    with torch.no_grad():
        features = model.forward_features(torch.rand(2, 3, side, side))
    assert len(features) == stages + 1
    assert features[-1].shape[-2:] == (last, last)
    assert [f.shape[1] for f in features[1:]] == config.widths


def test_depth_and_width_choices():
    assert resnet_config_for(3, 10, 224, 224).blocks == [2, 2, 2, 2]  # ResNet-18 depth
    assert resnet_config_for(1, 10, 28, 28).widths == [16, 32, 64]
    assert resnet_config_for(1, 10, 28, 28, width_multiplier=2).widths == [32, 64, 128]
    assert resnet_config_for(1, 10, 28, 28, width_multiplier=0.01).widths == [8, 8, 8]
    wide = resnet_config_for(1, 10, 40, 300)  # the shorter side decides
    assert len(wide.widths) == len(resnet_config_for(1, 10, 40, 40).widths)


def test_output_shapes_and_attributes():
    model = tiny(side=12, n_classes=5).eval()
    x = torch.rand(3, 1, 12, 12)
    assert model(x).shape == (3, 5)
    shapes = [tuple(f.shape) for f in model.forward_features(x)]
    assert shapes == [(3, 8, 12, 12), (3, 8, 12, 12), (3, 16, 6, 6)]
    assert isinstance(model.stem, nn.Sequential) and isinstance(model.stem[0], nn.Conv2d)
    assert isinstance(model.stages, nn.ModuleList)
    assert all(isinstance(s, nn.Sequential) for s in model.stages)
    assert isinstance(model.head, nn.Sequential) and isinstance(model.head[-1], nn.Linear)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert blocks and all(torch.all(b.bn2.weight == 0) for b in blocks)


def test_uint8_and_float_inputs_give_the_same_logits():
    model = warmed(tiny(channels=3), 16)
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(model(x), model(x.float() / 255))


def test_weights_file_round_trip_reproduces_outputs(tmp_path):
    from layerwise.engine import load_weights, save_weights

    config = ResNetConfig(
        3, 4, 16, 16, widths=[8, 16], blocks=[1, 2], mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3]
    )
    model = warmed(ResNet(config), 16)
    save_weights(tmp_path / "model.safetensors", model.state_dict())
    state = load_weights(tmp_path / "model.safetensors")
    assert {"mean", "std"} <= set(state)  # the normalisation travels with the weights
    loaded = ResNet(ResNetConfig.from_dict(json.loads(json.dumps(config.to_dict()))))
    loaded.load_state_dict(state)
    loaded.eval()
    x = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_config_round_trip_and_errors():
    config = resnet_config_for(3, 7, 96, 128, mean=[0.5], std=[0.2, 0.3, 0.4])
    assert config.mean == [0.5, 0.5, 0.5]
    assert ResNetConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match="widht"):
        ResNetConfig.from_dict({**config.to_dict(), "widht": 3})
    with pytest.raises(ConfigError, match="2 values for 3 channels"):
        ResNetConfig(3, 2, 8, 8, widths=[8], blocks=[1], mean=[0.1, 0.2])
    with pytest.raises(ConfigError, match="blocks"):
        ResNetConfig(1, 2, 8, 8, widths=[8, 16], blocks=[1])


@pytest.mark.skipif(
    not (importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxruntime")),
    reason="onnx and onnxruntime are not installed",
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter's notice
def test_onnx_export_agrees_with_torch(tmp_path):
    import onnxruntime

    model = warmed(tiny(side=16, channels=3, n_classes=4), 16)
    path = tmp_path / "resnet.onnx"
    torch.onnx.export(
        model,
        (torch.rand(2, 3, 16, 16),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(5, 3, 16, 16)
    got = session.run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == (5, 4)
    assert abs(got - want).max() < 1e-4


def shapes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy 16x16 images of a bright 4x4 square (class 0) or 2x8 bar (class 1), anywhere."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 60, (n, 1, 16, 16), generator=generator, dtype=torch.uint8)
    y = torch.randint(0, 2, (n,), generator=generator)
    corners = torch.randint(0, 8, (n, 2), generator=generator).tolist()
    for i, (r, c) in enumerate(corners):
        h, w = (4, 4) if y[i] == 0 else (2, 8)
        x[i, 0, r : r + h, c : c + w] = 220
    return x, y


def test_tiny_resnet_learns_a_trivial_image_problem():
    from layerwise.engine import Trainer, TrainerConfig

    torch.manual_seed(0)
    (x, y), (xv, yv) = shapes(400, seed=0), shapes(200, seed=1)
    model = tiny(side=16, n_classes=2)
    # One thread: a tiny model is as fast on one, and immune to a busy second core.
    config = TrainerConfig(epochs=6, batch_size=32, lr=1e-2, progress=False, seed=0, cpu_threads=1)
    trainer = Trainer(model, nn.CrossEntropyLoss(), config)
    trainer.fit((x, y), val=(xv, yv))
    accuracy = (trainer.predict((xv,)).argmax(dim=1) == yv).float().mean().item()
    assert accuracy > 0.95
