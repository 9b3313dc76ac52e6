import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from layerwise.explain.layer_views import (
    LayerViews,
    activations_png,
    filters_png,
    grad_cam,
    grad_cam_png,
    image_grid_png,
    layer_views,
    write_layer_views,
)


class StandIn(nn.Module):
    """The ResNet interface: stem, stages, head, forward_features (normalises internally)."""

    def __init__(self, channels=3, classes=4):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()
        )
        self.stages = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU(inplace=True)),
                nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(inplace=True)),
            ]
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes))

    def forward_features(self, x):
        if x.dtype == torch.uint8:
            x = x.float() / 255
        feats = [self.stem((x - 0.5) / 0.25)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        return feats

    def forward(self, x):
        return self.head(self.forward_features(x)[-1])


class PatchNet(nn.Module):
    """Class 1's logit is, by construction, the amount of bright 3x3 patch in the image."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
        self.stages = nn.ModuleList([nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU())])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
        with torch.no_grad():
            conv = self.stem[0]
            conv.weight.zero_()
            conv.weight[0] = 1 / 9  # brightness detector
            conv.weight[1] = -1 / 9  # darkness detector
            conv.bias.copy_(torch.tensor([-0.5, 1.0]))
            self.stages[0][0].weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            self.stages[0][0].bias.zero_()
            self.head[2].weight.copy_(torch.tensor([[-1000.0, 0.0], [1000.0, 0.0]]))
            self.head[2].bias.copy_(torch.tensor([5.0, 0.0]))

    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(x)


def _plain(channels=1, classes=3):
    return nn.Sequential(
        nn.Conv2d(channels, 6, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(6, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, classes),
    )


def _is_png(data, min_side=100):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
    with Image.open(io.BytesIO(data)) as img:
        assert min(img.size) >= min_side and max(img.size) < 4000
        return img.size


def _state(model):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [p.requires_grad for p in model.parameters()],
        [m.training for m in model.modules()],
    )


def _assert_same_state(model, before):
    params, grads, flags = before
    for key, value in model.state_dict().items():
        assert torch.equal(value, params[key]), key
    assert [p.requires_grad for p in model.parameters()] == grads
    assert [m.training for m in model.modules()] == flags
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
    assert all(p.grad is None for p in model.parameters())


def test_views_of_the_stage_model():
    torch.manual_seed(0)
    model = StandIn()
    image = torch.rand(3, 28, 28)
    views = layer_views(model, image)
    assert [name for name, _ in views.stages] == [
        "stem 4x28x28",
        "stage 1 8x14x14",
        "stage 2 16x7x7",
    ]
    assert [a.shape for _, a in views.stages] == [(4, 28, 28), (8, 14, 14), (16, 7, 7)]
    assert views.filters.shape == model.stem[0].weight.shape
    np.testing.assert_allclose(views.filters, model.stem[0].weight.detach().numpy())
    assert views.image.shape == (28, 28, 3) and 0 <= views.image.min() <= views.image.max() <= 1
    assert views.cam.shape == (28, 28) and views.cam.min() >= 0 and views.cam.max() <= 1
    assert views.probabilities.shape == (4,)
    assert views.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        expected = model.eval()(image[None])
    assert views.predicted == int(expected.argmax())
    assert layer_views(model, image, class_index=2).predicted == 2
    with pytest.raises(ValueError, match="out of range"):
        layer_views(model, image, class_index=9)


def test_uint8_input_gives_the_same_views_as_float():
    torch.manual_seed(1)
    model = StandIn(channels=1)
    image = torch.randint(0, 256, (1, 16, 16), dtype=torch.uint8)
    a, b = layer_views(model, image), layer_views(model, image.float() / 255)
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
    np.testing.assert_allclose(a.cam, b.cam, atol=1e-5)
    assert a.image.shape == (16, 16, 1)


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_grad_cam_finds_the_bright_patch(corner):
    model = PatchNet()
    image = torch.zeros(1, 24, 24)
    if corner == "top-left":
        image[:, 3:8, 3:8] = 1.0
    else:
        image[:, 16:21, 16:21] = 1.0
    cam, cls, probabilities = grad_cam(model, image)
    assert cls == 1 and probabilities[1] > 0.5
    row, col = np.unravel_index(np.argmax(cam), cam.shape)
    if corner == "top-left":
        assert row < 12 and col < 12
    else:
        assert row >= 12 and col >= 12
    assert cam.max() == pytest.approx(1.0)
    quadrant = cam[:12, :12] if corner == "top-left" else cam[12:, 12:]
    assert quadrant.sum() > 0.9 * cam.sum()


def test_an_all_zero_cam_stays_zero():
    # class 0's weight on the bright channel is negative: ReLU leaves nothing, and no NaN
    image = torch.zeros(1, 24, 24)
    image[:, 3:8, 3:8] = 1.0
    cam, cls, _ = grad_cam(PatchNet(), image, class_index=0)
    assert cls == 0 and np.array_equal(cam, np.zeros((24, 24), dtype=np.float32))


def test_grad_cam_on_a_chosen_layer():
    model = PatchNet()
    image = torch.zeros(1, 16, 16)
    image[:, 10:14, 10:14] = 1.0
    cam, _, _ = grad_cam(model, image, class_index=1, layer=model.stem)
    row, col = np.unravel_index(np.argmax(cam), cam.shape)
    assert row >= 8 and col >= 8


def test_model_state_is_left_untouched():
    torch.manual_seed(2)
    model = StandIn()
    model.train()
    model.stem[1].eval()  # a frozen batch-norm inside a training model stays frozen
    for p in model.stages[0].parameters():
        p.requires_grad_(False)
    before = _state(model)
    layer_views(model, torch.rand(3, 12, 12))
    grad_cam(model, torch.rand(3, 12, 12), layer=model.stages[0])
    _assert_same_state(model, before)
    with pytest.raises(ValueError):
        layer_views(model, torch.rand(3, 12, 12), class_index=-1)
    _assert_same_state(model, before)


def test_frozen_model_under_no_grad_still_explains():
    model = PatchNet()
    for p in model.parameters():
        p.requires_grad_(False)
    image = torch.zeros(1, 16, 16)
    image[:, 1:5, 1:5] = 1.0
    with torch.no_grad():
        cam, cls, _ = grad_cam(model, image)
    assert cls == 1 and cam.max() == pytest.approx(1.0)
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("channels", [1, 3])
def test_plain_sequential_fallback(channels, tmp_path):
    torch.manual_seed(3)
    model = _plain(channels)
    before = _state(model)
    views = layer_views(model, torch.rand(channels, 8, 8))
    names = [name for name, _ in views.stages]
    # the pooled 1x1 output is not a map: it is neither drawn nor explained
    assert names == ["0 conv2d 6x8x8", "1 relu 6x8x8", "2 conv2d 8x4x4", "3 relu 8x4x4"]
    assert views.filters.shape == (6, channels, 3, 3)
    assert views.cam.shape == (8, 8) and 0 <= views.cam.min() and views.cam.max() <= 1
    _assert_same_state(model, before)
    paths = write_layer_views(
        model, torch.rand(channels, 8, 8), tmp_path / "views", ["a", "b", "c"], "x_"
    )
    assert [p.name for p in paths] == ["x_gradcam.png", "x_activations.png", "x_filters.png"]
    for path in paths:
        _is_png(path.read_bytes())
    assert sorted(p.name for p in (tmp_path / "views").iterdir()) == sorted(p.name for p in paths)


@pytest.mark.parametrize("channels,size", [(3, 32), (1, 8)])
def test_pngs_are_valid_and_sensibly_sized(channels, size):
    torch.manual_seed(4)
    model = StandIn(channels=channels)
    views = layer_views(model, torch.rand(channels, size, size))
    width, height = _is_png(activations_png(views, per_stage=8))
    assert width > height  # rows of channels
    _is_png(activations_png(views, per_stage=3))
    _is_png(grad_cam_png(views, ["zero", "one", "two", "three"]))
    _is_png(grad_cam_png(views, []))  # missing class names fall back to the index
    _is_png(filters_png(views.filters))


def test_filter_pngs_of_many_or_no_filters_are_valid():
    """Not the model's filters: drawn once, not once per case above (64 panels take 0.7 s)."""
    _is_png(filters_png(np.random.default_rng(0).normal(size=(100, 5, 7, 7)), max_filters=64))
    _is_png(filters_png(np.zeros((0, 1, 1, 1))))


def test_image_grid():
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, size=(10, 8, 8, 1), dtype=np.uint8)
    titles = [f"true {i} / pred {9 - i} (0.97)" for i in range(10)]
    width, height = _is_png(image_grid_png(digits, titles, ncols=5, title="most confidently wrong"))
    assert width > height
    _is_png(image_grid_png(rng.random((3, 16, 16, 3)), ["a", "b", "c"]))
    _is_png(image_grid_png(rng.random((2, 3, 16, 16)), ["channels first", "b"]), min_side=50)
    _is_png(image_grid_png(np.zeros((0, 8, 8, 1)), []), min_side=50)


def test_renderers_release_their_figures():
    import gc

    from matplotlib.figure import Figure

    def live():
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) is Figure)

    views = LayerViews(
        image=np.zeros((8, 8, 1), dtype=np.float32),
        stages=[("stem 2x8x8", np.ones((2, 8, 8), dtype=np.float32))],
        filters=np.ones((2, 1, 3, 3), dtype=np.float32),
        cam=np.zeros((8, 8), dtype=np.float32),
        predicted=0,
        probabilities=np.array([1.0, 0.0]),
    )
    before = live()
    for _ in range(3):
        activations_png(views)
        grad_cam_png(views, ["a", "b"])
        filters_png(views.filters)
        image_grid_png(np.zeros((2, 8, 8)), ["a", "b"])
    assert live() == before
