"""The applications' own command-line parts (tasks/<app>/cli.py, issue [structure]): each
declares its ``train`` options, the command shows them grouped and passes them on, and reading
them at start-up stays free of the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

from layerwise.cli.train import declared_options
from layerwise.core.registry import TASKS


def test_every_declared_option_is_one_the_task_takes():
    declared = {name: TASKS.cli(name) for name in TASKS.names()}
    assert all(line is not None for line in declared.values())
    for name, line in declared.items():
        defaults = TASKS.get(name).DEFAULTS
        assert [o.name for o in line.train_options if o.name not in defaults] == [], name


def test_train_help_lists_every_option_under_its_application(cli):
    code, out, _ = cli("train", "--help")
    assert code == 0
    panels = [panel for _, panel, _ in declared_options()]
    for panel in dict.fromkeys(panels):
        assert panel in out
    for _, _, option in declared_options():
        assert option.flags.split("/")[0] in out


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--flip", "--horizon", "3", "--interpretable", "--stream"],
         {"flip": True, "horizon": 3, "interpretable": True, "stream": True}),
        (["--no-transcriber", "--model", "m.yaml"], {"transcriber": False, "model_file": "m.yaml"}),
        ([], {}),
    ],
)  # fmt: skip
def test_declared_options_reach_fit_as_given(cli, monkeypatch, argv, expected):
    seen = {}

    def fit(data, task=None, target=None, **options):
        seen.update(options, task=task)
        raise SystemExit(0)

    monkeypatch.setattr("layerwise.api.fit", fit)
    assert cli("train", "x.csv", *argv)[0] == 0
    assert seen == {**expected, "task": None}


def test_an_option_may_choose_the_task(cli, monkeypatch):
    seen = {}

    def fit(data, task=None, target=None, **options):
        seen.update(task=task)
        raise SystemExit(0)

    monkeypatch.setattr("layerwise.api.fit", fit)
    cli("train", "u.data", "--format", "movielens")
    assert seen == {"task": "recommendation"}


def test_the_command_starts_without_the_heavy_libraries():
    code = ("import sys; from layerwise.cli.main import app; from layerwise.cli import train; "
            "train.declared_options(); "
            "print(sorted(m for m in ('torch', 'pandas', 'numpy') if m in sys.modules))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
