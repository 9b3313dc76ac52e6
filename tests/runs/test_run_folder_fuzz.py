"""Fuzzing crafted run folders (issue 23): real tiny runs whose preprocess.json, schema.json,
manifest.json and file names are changed at random, then signed again so integrity passes.
Loading each must either work or raise a layerwise error (never another exception), must never
open a file outside the folder, and must never allocate more than a bound."""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import shutil
import sys
from pathlib import Path

import pytest
from crafted import copy_run, sign, swap_in_mlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import layerwise
from layerwise.core.registry import TASKS
from layerwise.errors import LayerwiseError

MEMORY_BOUND = 400 << 20  # new peak memory one load may reach; a crafted size used to take GBs
OUTSIDE = ("/etc/passwd", "/etc/hostname", "/dev/zero")

ATTACK_TEXT = ["/etc/passwd", "../outside.safetensors", "../../etc/hostname", "/dev/zero",
               "tempfile:mkdtemp", "os:system", "model.safetensors", "preprocess.json",
               "manifest.json", "a/../../b", "", "..", "checkpoints/last.safetensors",
               "detector-knn.safetensors", "mlp", "ensemble", "linear", "numeric"]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from([0, -1, 1, 2, 7, 10**6, 2**31, 10**12, 2**63, -(2**63), 10**30]),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ATTACK_TEXT),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
    st.lists(st.sampled_from([0, 3, 10**6, 10**12, -2, "x"]), max_size=4),
    st.dictionaries(
        st.sampled_from(["file", "kind", "hidden", "name", "x"]),
        st.sampled_from([1, "x", None, [10**9]]),
        max_size=2,
    ),
)


@pytest.fixture(scope="module")
def bases(tmp_path_factory, contract_run):
    """Unchanged copies of a real run of every task (the contract runs the suite trains once),
    the tabular one serving an MLP so that a network is among the tables too."""
    where = tmp_path_factory.mktemp("fuzz-bases")
    runs = {}
    for name in TASKS.names():
        if name == "reinforcement-learning" and importlib.util.find_spec("gymnasium") is None:
            continue
        runs[name] = copy_run(contract_run(name)[0].path, where / name)
    swap_in_mlp(runs["tabular-classification"])
    for run in runs.values():
        layerwise.load(run)  # every import a load needs happens here, outside the watch
    return runs


def _paths(data, prefix=()):
    """Every place in a JSON value: the path of keys/indices to it."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data[:6]):
            yield from _paths(value, (*prefix, i))


def _set(data, path, value):
    if not path:
        return value
    holder = data
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return data


@st.composite
def mutations(draw):
    """A list of (file, path choice, new value) edits, or a rename of a listed file."""
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["preprocess.json", "preprocess.json", "schema.json",
                                     "manifest.json", "rename", "link"]))  # fmt: skip
        edits.append((kind, draw(st.integers(0, 10**6)), draw(VALUES)))
    return edits


def _apply(run: Path, edits) -> None:
    outside = run.parent / "outside.safetensors"
    for kind, choice, value in edits:
        manifest = json.loads((run / "manifest.json").read_text())
        files = manifest.get("files") if isinstance(manifest, dict) else None
        listed = sorted(files) if isinstance(files, dict) else []
        if kind in ("rename", "link"):
            names = [n for n in listed if (run / n).is_file()]
            if not names:
                continue
            name = names[choice % len(names)]
            if kind == "rename":
                (run / name).rename((run / name).with_name(f"renamed-{Path(name).name}"))
            else:
                (run / name).unlink()
                (run / name).symlink_to(outside)
            continue
        if not (run / kind).is_file():  # renamed by an earlier edit
            continue
        data = json.loads((run / kind).read_text())
        places = list(_paths(data))
        place = places[choice % len(places)]
        if kind == "manifest.json" and place[:1] != ("files",) and choice % 2:
            place = ("files", *place[1:])  # the file list is where the danger is
        try:
            data = _set(data, place, value)
        except (KeyError, IndexError, TypeError):
            continue
        (run / kind).write_text(json.dumps(data))
    sign(run)


@given(which=st.sampled_from(TASKS.names()), edits=mutations())
@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
def test_crafted_run_folders_load_or_fail_cleanly(
    bases, tmp_path_factory, monkeypatch, which, edits
):
    if which not in bases:
        return
    where = tmp_path_factory.mktemp("fuzz")
    run = copy_run(bases[which], where)
    (where / "outside.safetensors").write_bytes(b"canary")
    _apply(run, edits)

    opened: list[str] = []
    import safetensors
    import safetensors.torch

    real_load, real_open = safetensors.torch.load_file, safetensors.safe_open
    monkeypatch.setattr(safetensors.torch, "load_file",
                        lambda path, *a, **k: opened.append(str(path)) or real_load(path, *a, **k))  # fmt: skip
    monkeypatch.setattr(safetensors, "safe_open",
                        lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))  # fmt: skip
    watching = [True]

    def hook(event, args):
        if watching[0] and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
            opened.append(os.fsdecode(args[0]))

    _HOOKS.append(hook)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        task = layerwise.load(run)
        assert task is not None
    except LayerwiseError:
        pass
    finally:
        _HOOKS.remove(hook)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < MEMORY_BOUND, f"a crafted folder made load allocate {grown:,} bytes: {edits}"
    inside, sandbox = os.path.realpath(run), os.path.realpath(where)
    for path in opened:
        if not os.path.isabs(path):  # one component opened relative to its folder's descriptor
            assert ".." not in path.split("/"), (path, edits)
            continue
        real = os.path.realpath(path)
        in_run = real == inside or real.startswith(inside + os.sep)
        assert real not in OUTSIDE, (path, edits)
        assert in_run or not real.startswith(sandbox + os.sep), (path, edits)
    shutil.rmtree(where, ignore_errors=True)


# One process-wide audit hook (they cannot be removed) that calls the hooks a test installs.
_HOOKS: list = []


def _dispatch(event, args):
    for hook in list(_HOOKS):
        hook(event, args)


sys.addaudithook(_dispatch)
