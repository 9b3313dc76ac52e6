"""Image folders larger than memory: decoded once to a record file, read a batch at a time,
and trained on to the same result as in memory."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

import layerwise
from layerwise.data import disk_cache, image_stream
from layerwise.data.image_sources import shapes, write_folder
from layerwise.data.images import read_images
from layerwise.data.records import Records, RecordWriter, channel_stats
from layerwise.engine import Trainer, TrainerConfig
from layerwise.engine.rows import RowsOnDisk
from layerwise.errors import DataError


@pytest.fixture
def records(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (30, 4, 5, 3), dtype=np.uint8)
    with RecordWriter(tmp_path / "x.u8", (4, 5, 3)) as writer:
        writer.add(x[:10])
        writer.add(x[10:])
    return x, writer.records


def test_records_index_like_the_array_they_hold(records):
    x, rec = records
    assert rec.shape == x.shape and len(rec) == 30 and rec.nbytes == x.nbytes
    np.testing.assert_array_equal(rec[7], x[7])
    np.testing.assert_array_equal(rec[-1], x[-1])
    np.testing.assert_array_equal(rec[3:9], x[3:9])
    order = np.array([5, 2, 2, 29, 0, 6])  # unsorted, repeated, a run of consecutive ones
    np.testing.assert_array_equal(rec[order], x[order])
    np.testing.assert_array_equal(rec[torch.tensor(order)], x[order])
    mask = np.arange(30) % 4 == 0
    np.testing.assert_array_equal(rec[mask], x[mask])
    view = rec.subset([9, 3, 20])
    np.testing.assert_array_equal(view[:], x[[9, 3, 20]])
    np.testing.assert_array_equal(view.subset([2, 0])[1], x[9])
    np.testing.assert_array_equal(np.asarray(view), x[[9, 3, 20]])
    assert sum(len(c) for c in rec.chunks(7)) == 30
    with pytest.raises(IndexError):
        rec[[30]]


def test_channel_stats_match_the_whole_arrays_and_a_short_file_is_refused(records, tmp_path):
    x, rec = records
    mean, std = channel_stats(rec, chunk=7)
    pixels = x.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, pixels.mean(axis=0))
    np.testing.assert_allclose(std, pixels.std(axis=0))
    with pytest.raises(ValueError, match="not the 31 records"):
        Records(rec.path, (31, 4, 5, 3))


def test_a_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError), RecordWriter(tmp_path / "y.u8", (2, 2, 1)) as writer:
        writer.add(np.zeros((3, 2, 2, 1), np.uint8))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def folder(tmp_path):
    out = write_folder(shapes(60, size=12, seed=1), tmp_path / "shapes")
    (out / "disc" / "broken.png").write_bytes(b"not a png")
    return out


def test_a_streamed_folder_reads_as_the_same_images_and_is_decoded_once(folder, tmp_path):
    cache = tmp_path / "cache"
    plain = read_images(folder)
    streamed = read_images(folder, stream=True, cache=cache)
    assert isinstance(streamed.images, Records) and not isinstance(plain.images, Records)
    np.testing.assert_array_equal(streamed.images[:], plain.images)
    np.testing.assert_array_equal(streamed.labels, plain.labels)
    assert streamed.names == plain.names and streamed.classes == plain.classes
    assert [name for name, _ in streamed.skipped] == ["disc/broken.png"]
    assert any("decoded 60 images once" in note for note in streamed.notes)
    again = read_images(folder, stream=True, cache=cache)
    assert any("from the cache" in note for note in again.notes)
    assert [name for name, _ in again.skipped] == ["disc/broken.png"]
    np.testing.assert_array_equal(again.images[:], plain.images)
    part = streamed.subset(np.array([4, 1]))  # a split: a view of the same file
    assert isinstance(part.images, Records)
    np.testing.assert_array_equal(part.images[:], plain.images[[4, 1]])
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(folder / "disc" / "new.png")
    changed = read_images(folder, stream=True, cache=cache)
    assert len(changed) == 61 and not any("from the cache" in n for n in changed.notes)


def test_a_damaged_cache_is_decoded_again(folder, tmp_path):
    cache = tmp_path / "cache"
    first = read_images(folder, stream=True, cache=cache)
    with first.images.path.open("r+b") as file:  # cut short, as a full disk would
        file.truncate(100)
    again = read_images(folder, stream=True, cache=cache)
    assert not any("from the cache" in note for note in again.notes)
    assert len(again) == 60


def test_gray_files_stream_as_one_channel(tmp_path):
    gray = shapes(20, size=8, seed=2)
    gray.images = gray.images[..., :1].copy()
    out = write_folder(gray, tmp_path / "gray")
    streamed = read_images(out, stream=True, cache=tmp_path / "cache")
    assert streamed.channels == 1
    np.testing.assert_array_equal(streamed.images[:], read_images(out).images)


def test_a_folder_streams_by_itself_past_a_share_of_memory(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(disk_cache, "physical_memory", lambda: 60 * 12 * 12 * 3)
    streamed = read_images(folder, cache=tmp_path / "cache", stream=None)
    assert isinstance(streamed.images, Records)
    assert any("over a quarter of this machine's" in note for note in streamed.notes)


def test_another_process_of_a_world_waits_for_the_cache_and_gives_up_clearly(
    folder, tmp_path, monkeypatch
):
    monkeypatch.setattr(image_stream, "writes_here", lambda: False)
    monkeypatch.setattr(disk_cache, "WAIT_S", 0.0)
    with pytest.raises(DataError, match="The image cache .* did not appear"):
        read_images(folder, stream=True, cache=tmp_path / "cache")
    monkeypatch.setattr(image_stream, "writes_here", lambda: True)
    read_images(folder, stream=True, cache=tmp_path / "made")  # the machine's first process...
    monkeypatch.setattr(image_stream, "writes_here", lambda: False)
    monkeypatch.setattr(disk_cache, "WAIT_S", 5.0)
    waited = read_images(folder, stream=True, cache=tmp_path / "made")  # ...then the others
    assert any("from the cache" in note for note in waited.notes)


def test_the_engine_trains_alike_on_rows_read_from_disk(records):
    x, rec = records
    y = torch.arange(30) % 3

    def trained(data):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(60, 3))
        config = TrainerConfig(epochs=2, batch_size=8, progress=False, patience=None)
        Trainer(model, torch.nn.functional.cross_entropy, config).fit((data, y), val=(data, y))
        return model[1].weight.detach()

    as_float = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float() / 255  # noqa: E731
    torch.testing.assert_close(trained(RowsOnDisk(rec, as_float)), trained(as_float(x)))


def test_steps_per_epoch_trains_part_of_a_pass():
    steps = []

    class Counting(Trainer):
        def train_step(self, batch):
            steps.append(len(batch[0]))
            return super().train_step(batch)

    x, y = torch.randn(100, 3), torch.randn(100, 1)
    config = TrainerConfig(epochs=3, batch_size=10, steps_per_epoch=4, progress=False)
    Counting(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, config).fit((x, y))
    assert steps == [10] * 12


def test_a_streamed_run_chooses_and_scores_as_one_in_memory(folder, tmp_path):
    options = {"candidate_params": {"cnn": {"epochs": 2}}, "verbose": False, "seed": 0,
               "report": False, "output_dir": str(tmp_path / "runs")}  # fmt: skip
    streamed = layerwise.fit(str(folder), task="image-classification", stream=True, **options)
    held = layerwise.fit(str(folder), task="image-classification", stream=False, **options)
    assert streamed.metrics["chosen"] == held.metrics["chosen"]
    for name, entry in held.metrics["candidates"].items():
        assert streamed.metrics["candidates"][name]["test"] == pytest.approx(entry["test"])
    assert os.path.isdir(tmp_path / "runs" / ".cache")
    predicted = streamed.predict(str(folder / "square"))
    assert len(predicted) == len(list((folder / "square").iterdir()))
