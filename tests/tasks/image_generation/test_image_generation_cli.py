"""The image-generation commands: train on a folder per class, generate a grid of a class (the
same pixels for the same seed), and one-line errors for bad requests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    from layerwise.cli.main import main
    from layerwise.data.image_sources import digits, write_folder

    folder = tmp_path_factory.mktemp("digits")
    write_folder(digits().subset(np.arange(200)), folder / "digits")
    config = folder / "small.yaml"
    config.write_text("options:\n  n_samples: 50\n  candidate_params: {gan: {epochs: 1, "
                      "steps_per_epoch: 3}, vae: {epochs: 1, steps_per_epoch: 3}, judge: {time_limit: 0.2}}\n")  # fmt: skip
    try:
        main(["train", str(folder / "digits"), "--task", "image-generation", "--config",
              str(config), "--time-limit", "5", "-o", str(folder / "runs"), "--no-report"])  # fmt: skip
    except SystemExit as exc:
        assert not exc.code
    return next((folder / "runs").iterdir())


def test_generate_writes_a_grid_of_the_asked_class(cli, image_run, tmp_path):
    from PIL import Image

    code, out, err = cli(
        "generate", image_run, "--n", "6", "--label", "4", "-o", tmp_path / "a.png"
    )
    assert code == 0, err
    assert "6 generated images of class '4'" in out
    cli("generate", image_run, "--n", "6", "--label", "4", "-o", tmp_path / "b.png")
    first, second = Image.open(tmp_path / "a.png"), Image.open(tmp_path / "b.png")
    assert first.size == second.size and first.size[0] > first.size[1]  # 6 tiles: 3 x 2
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_bad_requests_are_one_line(cli, image_run, tmp_path):
    code, _, err = cli("generate", image_run, "--label", "eleven", "-o", tmp_path / "x.png")
    assert code == 2 and "no class 'eleven'" in err and "Traceback" not in err
    code, _, err = cli("generate", image_run, "--n", "0", "-o", tmp_path / "x.png")
    assert code == 2 and "--n 0" in err
    code, _, err = cli("generate", image_run, "-o", tmp_path / "x.jpg")
    assert code == 2 and ".png" in err
    assert not (tmp_path / "x.png").exists()


def test_too_few_images_name_the_minimum(cli, tmp_path):
    from layerwise.data.image_sources import digits, write_folder

    write_folder(digits().subset(np.arange(40)), tmp_path / "few")
    code, out, err = cli("train", tmp_path / "few", "--task", "image-generation", "-o", tmp_path)
    assert code == 2 and "at least 100" in err and "Traceback" not in err
    assert not list(tmp_path.glob("*image-generation"))
