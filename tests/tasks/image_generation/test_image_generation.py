"""image-generation: sizing and checking the images, generation by class, determinism, the
run folder's round trip, and one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from layerwise.errors import ConfigError, DataError
from layerwise.tasks.image_generation.fit import MIN_IMAGES, MIN_PER_CLASS
from layerwise.tasks.image_generation.task import ImageGeneration

# The judge gets 0.2 s, so one epoch (2 s bought it ~12 in every fit): no test here reads how
# well it learned, only that its scores are in range (tests/tasks/test_image_gen_quality.py
# checks that it learns).
QUICK = {"n_samples": 60, "time_limit": 2, "verbose": False, "report": False,
         "candidate_params": {"gan": {"epochs": 2, "steps_per_epoch": 3},
                              "vae": {"epochs": 2, "steps_per_epoch": 3},
                              "judge": {"time_limit": 0.2}}}  # fmt: skip


def _digits(n: int = 240):
    from layerwise.data.image_sources import digits

    images = digits()
    return images.subset(np.arange(n))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    task = ImageGeneration(output_dir=str(tmp_path_factory.mktemp("gen")), **QUICK)
    return task.fit(_digits())


def test_small_images_are_upsampled_with_a_note_and_classes_make_it_conditional(fitted):
    task = fitted.task
    assert task.side == 16 and task.channels == 1 and task.classes == [str(i) for i in range(10)]
    assert any("resized from 8x8 to 16x16" in note for note in fitted.notes)
    metrics = fitted.metrics
    assert set(metrics["candidates"]) == {"gmm", "gan", "vae"} and metrics["metric"] == "fd"
    assert metrics["chosen"] in metrics["candidates"]
    for entry in metrics["candidates"].values():
        assert entry["test"]["fd"] >= 0 and 0 <= entry["test"]["class_accuracy"] <= 1
    assert metrics["floor"]["test"] >= 0


def test_generation_obeys_the_label_and_the_seed(fitted):
    task = fitted.task
    images, codes = task.generate(6, "3", seed=5)
    assert images.shape == (6, 16, 16, 1) and images.dtype == np.uint8
    assert codes.tolist() == [3] * 6
    again, _ = task.generate(6, "3", seed=5)
    other, _ = task.generate(6, "3", seed=6)
    assert np.array_equal(images, again) and not np.array_equal(images, other)
    _, every = task.generate(12)
    assert every.tolist() == [i % 10 for i in range(12)]


def test_both_candidates_round_trip_through_the_run_folder(fitted):
    import layerwise

    for name in ("gmm", "gan", "vae"):
        folder = fitted.path.parent / f"only-{name}"
        task = ImageGeneration(output_dir=str(folder), **{**QUICK, "candidates": [name]})
        run = task.fit(_digits())
        loaded = layerwise.load(run.path)
        assert loaded.chosen == name
        assert np.array_equal(run.task.generate(4, "7")[0], loaded.generate(4, "7")[0])
        scores = loaded.evaluate(_digits(120))
        assert scores["rows"] == 120 and scores["fd"] >= 0 and "class_accuracy" in scores


def test_a_label_the_model_does_not_know_names_the_closest(fitted):
    with pytest.raises(ConfigError, match="no class '33'.*Classes: 0, 1"):
        fitted.task.generate(2, "33")
    with pytest.raises(ConfigError, match="--n 0"):
        fitted.task.generate(0)


def test_too_few_images_say_the_minimum(tmp_path):
    task = ImageGeneration(output_dir=str(tmp_path), **QUICK)
    with pytest.raises(DataError, match=f"at least {MIN_IMAGES}"):
        task.fit(_digits(MIN_IMAGES - 1))
    assert not any(tmp_path.iterdir())  # bad input leaves no run folder


def test_too_few_of_a_class_for_a_conditional_gan(tmp_path):
    images = _digits(400)
    keep = np.flatnonzero(images.labels != 4)
    fours = np.flatnonzero(images.labels == 4)[: MIN_PER_CLASS - 2]
    few = images.subset(np.sort(np.concatenate([keep, fours])))
    with pytest.raises(DataError, match=f"class '4' \\({MIN_PER_CLASS - 2}\\)"):
        ImageGeneration(output_dir=str(tmp_path), **QUICK).fit(few)


def test_conditional_needs_classes_and_unconditional_refuses_labels(tmp_path):
    unlabelled = _digits(160).images
    with pytest.raises(ConfigError, match="--conditional needs images of two classes"):
        ImageGeneration(output_dir=str(tmp_path), conditional=True, **QUICK).fit(unlabelled)
    task = ImageGeneration(output_dir=str(tmp_path), candidates=["gmm"], **QUICK)
    run = task.fit(unlabelled)
    assert not run.task.classes and run.metrics["judge"]["kind"] == "rotation"
    assert run.task.generate(3)[1] is None
    with pytest.raises(ConfigError, match="trained without classes"):
        run.task.generate(3, "1")


def test_mixed_sizes_are_resized_and_noted(tmp_path):
    from layerwise.data.image_sources import write_folder
    from layerwise.data.images import read_images

    rng = np.random.default_rng(0)
    small = (rng.random((60, 20, 20, 1)) * 255).astype(np.uint8)
    large = (rng.random((60, 28, 28, 1)) * 255).astype(np.uint8)
    folder = tmp_path / "mixed"
    write_folder(read_images((small, ["a"] * 60)), folder)
    write_folder(read_images((large, ["b"] * 60)), folder)
    task = ImageGeneration(output_dir=str(tmp_path / "runs"), candidates=["gmm"], **QUICK)
    run = task.fit(folder)
    assert run.task.side in (20, 24, 28) and run.task.side % 4 == 0
    assert any("resiz" in note for note in run.notes), run.notes


def test_a_bad_image_size_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="divisible by 4"):
        ImageGeneration(output_dir=str(tmp_path), image_size=30, **QUICK).fit(_digits())
