"""The U-Net: any multiple of its stride in, a mask of the same size out, sized by its rule,
and able to learn a mask a pixel rule cannot give (it needs the context around a pixel)."""

import pytest
import torch

from layerwise.errors import ConfigError
from layerwise.models.unet import UNet, UNetConfig, unet_config_for


def test_sizes_and_the_stride_rule():
    assert len(unet_config_for(64, 30, 2).widths) == 4  # 64 / 8 = 8 px deepest
    assert len(unet_config_for(512, 30, 2).widths) == 6
    net = UNet(unet_config_for(64, 30, 3, in_channels=1)).eval()
    assert net(torch.zeros(1, 1, 40, 24, dtype=torch.uint8)).shape == (1, 3, 40, 24)
    with pytest.raises(ConfigError, match="multiple of 8"):
        net(torch.zeros(1, 1, 36, 24))
    with pytest.raises(ConfigError, match="widths"):
        UNetConfig(2, widths=[8, 16])


def test_it_learns_to_fill_outlined_squares():
    # the mask is the inside of drawn outlines: the inside and outside pixels look the same
    torch.manual_seed(0)
    images, masks = torch.zeros(16, 1, 24, 24), torch.zeros(16, 24, 24, dtype=torch.long)
    for i in range(16):
        x0, y0 = torch.randint(1, 10, (2,)).tolist()
        side = int(torch.randint(7, 13, (1,)))
        images[i, 0, y0 : y0 + side, x0 : x0 + side] = 1.0
        images[i, 0, y0 + 1 : y0 + side - 1, x0 + 1 : x0 + side - 1] = 0.0
        masks[i, y0 : y0 + side, x0 : x0 + side] = 1
    net = UNet(UNetConfig(2, in_channels=1, widths=[8, 16, 32], mean=[0.1], std=[0.3]))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    for _ in range(50):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(images), masks)
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(images).argmax(1) == masks).float().mean()
    assert accuracy > 0.95 and float(loss.detach()) < 0.2
