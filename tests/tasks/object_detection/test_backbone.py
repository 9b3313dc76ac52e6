"""--backbone: a ResNet checkpoint (torchvision's names or layerwise's own) starts the detector."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from layerwise.errors import DataError
from layerwise.models.resnet import ResNet, ResNetConfig
from layerwise.tasks.object_detection.backbone import read_backbone
from layerwise.tasks.object_detection.centernet_train import CenterNetDetector
from layerwise.tasks.object_detection.scenes import street_scenes

WIDTHS, BLOCKS = [8, 16, 24, 32], [2, 1, 2, 1]


def _resnet() -> ResNet:
    torch.manual_seed(5)
    config = ResNetConfig(
        3,
        10,
        224,
        224,
        widths=WIDTHS,
        blocks=BLOCKS,
        stem_kernel=7,
        stem_stride=2,
        pool_stem=True,
        mean=[0.3, 0.4, 0.5],
        std=[0.2, 0.2, 0.3],
    )
    model = ResNet(config)
    for name, value in model.state_dict().items():  # BatchNorm statistics not the defaults
        if value.is_floating_point() and name not in ("mean", "std"):
            value.add_(torch.rand_like(value))
    return model


def _torchvision_names(state: dict) -> dict:
    """layerwise ResNet names -> torchvision's, the way a user's resnet18.safetensors has them."""
    out = {}
    for name, value in state.items():
        if name.startswith("stem.0."):
            out["conv1." + name[7:]] = value
        elif name.startswith("stem.1."):
            out["bn1." + name[7:]] = value
        elif name.startswith("stages."):
            _, stage, rest = name.split(".", 2)
            out[f"layer{int(stage) + 1}.{rest.replace('shortcut.', 'downsample.')}"] = value
    out["fc.weight"], out["fc.bias"] = torch.zeros(1000, WIDTHS[-1]), torch.zeros(1000)
    return out


@pytest.mark.parametrize("names", ["torchvision", "layerwise"])
def test_a_resnet_checkpoint_becomes_the_detectors_backbone(names, tmp_path):
    resnet = _resnet()
    state = {k: v.contiguous() for k, v in resnet.state_dict().items()}
    path = tmp_path / "resnet.safetensors"
    save_file(_torchvision_names(state) if names == "torchvision" else state, str(path))
    data = street_scenes(12, size=64, seed=1)
    detector = CenterNetDetector(seed=0, side=64, epochs=1, backbone=str(path))
    detector.side = 64
    model = detector._build(data)
    assert model.config.widths == WIDTHS and model.config.blocks == BLOCKS
    assert model.config.stem_kernel == 7 and model.config.pool_stem
    for name, value in model.state_dict().items():
        if name.startswith(("stem.", "stages.")):
            assert torch.equal(value, state[name]), name
    expected = [0.3, 0.4, 0.5] if names == "layerwise" else [0.485, 0.456, 0.406]
    np.testing.assert_allclose(model.config.mean, expected, rtol=1e-6)
    count = sum(k.startswith(("stem.", "stages.")) for k in model.state_dict())
    assert f"({count} tensors, {names} names" in detector.notes[-1]
    # the detector computes the ResNet's features: the same stem and stages (strides 4 to 32)
    x = torch.rand(1, 3, 64, 64)
    resnet.eval(), model.eval()
    with torch.no_grad():
        z = model.normalize(x)
        ours, theirs = model.stem(z), resnet.stem(z)
        for mine, its in zip(model.stages, resnet.stages, strict=True):
            ours, theirs = mine(ours), its(theirs)
        if names == "layerwise":  # its own normalisation came with it
            torch.testing.assert_close(resnet.forward_features(x)[-1], theirs)
    assert ours.shape == (1, 32, 2, 2)
    torch.testing.assert_close(ours, theirs)


def test_a_backbone_that_is_not_one_is_a_clear_error(tmp_path):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(DataError, match="not a safetensors file"):
        read_backbone(bad)
    with pytest.raises(DataError, match="not a file"):
        read_backbone(tmp_path / "absent.safetensors")
    deep = tmp_path / "resnet50.safetensors"
    save_file({"conv1.weight": torch.zeros(8, 3, 7, 7),
               "layer1.0.conv3.weight": torch.zeros(32, 8, 1, 1)}, str(deep))  # fmt: skip
    with pytest.raises(DataError, match="bottleneck"):
        read_backbone(deep)
    other = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(3, 3)}, str(other))
    with pytest.raises(DataError, match="no ResNet stem"):
        read_backbone(other)
