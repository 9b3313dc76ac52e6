"""The text-generation commands: train on a text file, generate from a prompt (streamed, the
same text for the same seed), and one-line errors for bad input."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    from layerwise.cli.main import main

    folder = tmp_path_factory.mktemp("text")
    path = folder / "verses.txt"
    path.write_text("\n".join(f"ROMEO: line {i % 7} of the song." for i in range(400)))
    config = folder / "small.yaml"
    config.write_text("options:\n  candidate_params: {gpt: {epochs: 2, steps_per_epoch: 10, "
                      "batch_size: 8}}\n")  # fmt: skip
    try:
        main(["train", str(path), "--task", "language-generation", "--config", str(config),
              "--time-limit", "10", "-o", str(folder / "runs"), "--no-report"])  # fmt: skip
    except SystemExit as exc:
        assert not exc.code
    return path, next((folder / "runs").iterdir())


def test_generate_streams_the_prompt_and_its_continuation(cli, text_run):
    _, run = text_run
    code, out, err = cli("generate", run, "--prompt", "ROMEO:", "--max-tokens", "30", "--seed", "1")
    assert code == 0, err
    assert out.startswith("ROMEO:") and len(out.rstrip("\n")) == len("ROMEO:") + 30
    again = cli("generate", run, "--prompt", "ROMEO:", "--max-tokens", "30", "--seed", "1")[1]
    assert again == out


def test_unknown_prompt_characters_are_mapped_with_a_note(cli, text_run):
    _, run = text_run
    code, _, err = cli("generate", run, "--prompt", "JULIET: ¿", "--max-tokens", "5")
    assert code == 0 and "note: characters not in the training text" in err


def test_bad_input_is_one_line(cli, text_run, tmp_path):
    _, run = text_run
    code, out, err = cli("generate", run, "--max-tokens", "-1")
    assert code == 2 and "--max-tokens -1" in err and "Traceback" not in err and not out
    binary = tmp_path / "blob.txt"
    binary.write_bytes(bytes(range(256)) * 40)
    code, _, err = cli("train", binary, "--task", "language-generation", "-o", tmp_path / "r")
    assert code == 2 and "blob.txt" in err and "Traceback" not in err
