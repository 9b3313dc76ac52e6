import pytest
import torch


@pytest.fixture(scope="session")
def digits():
    """scikit-learn digits: (x 8x8 images in [0, 1] as (N, 1, 8, 8) float32, y int labels)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype("float32")[:, None]
    return x, data.target.astype("int64")


@pytest.fixture(scope="session")
def digits784(digits):
    """The digits upsampled to 28x28 and flattened to 784 features, as in the MNIST snippet."""
    x, y = digits
    big = torch.nn.functional.interpolate(torch.from_numpy(x), size=(28, 28), mode="bilinear")
    return big.reshape(len(x), 784).numpy(), y
