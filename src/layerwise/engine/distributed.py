"""Data-parallel training across processes with PyTorch's own runtime: DistributedDataParallel
over NCCL (CUDA) or gloo (CPU), in processes started by ``torchrun`` or by
``layerwise train --devices N`` (:func:`launch_command`, through the same elastic launcher).

Nothing here is a cluster of layerwise's own: a process learns its place from the environment
torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), so
Slurm, Kubernetes or a cloud batch service start it as they start any PyTorch job. Without that
environment the world is one process and nothing changes.

What the engine (:class:`~layerwise.engine.trainer.Trainer`) does with a world of several:

- every rank draws the same seeded order of the training examples each epoch and takes its own
  share of it (:func:`shard`: as ``DistributedSampler``, the order padded by its first examples
  to a multiple of the world, then every ``size``-th from ``rank``), so a batch of ``b`` on each
  of ``n`` ranks is exactly a batch of ``n * b`` in one process, and DDP's mean of the ranks'
  gradients is that batch's gradient;
- the logged training means are averaged across ranks weighted by their examples
  (:func:`mean_across`); the validation record is rank 0's, sent to all (:func:`from_main`), so
  early stopping and the epoch kept are decided alike everywhere; a stop for the time limit is
  taken when any rank reaches it (:func:`any_across`), so no rank waits for another forever;
- only rank 0 writes checkpoints, the run folder and the report.

Example:
    >>> World().distributed, World(rank=1, size=2).main
    (False, False)
    >>> shard(torch.arange(5), World(rank=1, size=2)).tolist()  # padded with example 0
    [1, 3, 0]
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from layerwise.errors import ConfigError

MAX_WORLD = 4096
WAIT_S = 6 * 3600  # the longest a rank waits at a collective for the others


@dataclass(frozen=True)
class World:
    """This process's place: ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun (or --devices), even as a world of one

    @property
    def distributed(self) -> bool:
        """Several processes, or one that torchrun started (DDP then runs, as on a cluster)."""
        return self.size > 1 or self.launched

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and shows progress."""
        return self.rank == 0


def current_world(environ: Mapping[str, str] | None = None) -> World:
    """The world torchrun's environment describes, else one process.

    >>> current_world({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    World(rank=1, size=2, local_rank=1, launched=True)
    >>> current_world({})
    World(rank=0, size=1, local_rank=0, launched=False)
    """
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return World()
    try:
        rank, size = int(env.get("RANK", "0")), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as error:
        raise ConfigError(f"The distributed environment is not whole numbers: {error}.",
                          "Start layerwise with torchrun or --devices N.") from error  # fmt: skip
    if not (1 <= size <= MAX_WORLD and 0 <= rank < size and 0 <= local < size):
        raise ConfigError(f"RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local} do not describe "
                          "a world of processes.", "Start layerwise with torchrun or --devices N.")  # fmt: skip
    return World(rank, size, local, launched=True)


def setup(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group of this world (once per process) and return it with the device
    this rank trains on (``cuda:<local_rank>`` on CUDA). One process: nothing is joined."""
    world = current_world()
    if not world.distributed:
        return world, device
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"Process {world.local_rank} on this machine has no GPU of its own "
                              f"({torch.cuda.device_count()} here).",
                              "Start as many processes per machine as it has GPUs.")  # fmt: skip
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # rank 0 may train the classical candidates while the others wait at the next
        # collective: the timeout is the longest such wait, not one of communication
        # On a machine with GPUs both: NCCL for CUDA tensors (a model's gradients) and gloo
        # for CPU ones (the small collectives that agree on plans, and a model trained on the
        # CPU there with device="cpu"), whichever device joined first
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=WAIT_S))
    return world, device


def shard(order: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's share of ``order`` (one epoch's example indices): ``order`` padded with its
    own first entries to a multiple of the world's size, then every ``size``-th from ``rank``.
    Every rank gets as many examples, so every rank takes as many steps."""
    if not world.distributed:
        return order
    n = len(order)
    total = -(-n // world.size) * world.size
    if total > n:
        repeats = -(-total // n)
        order = torch.cat([order] * repeats)[:total]
    return order[world.rank :: world.size]


RANK_SEED_STRIDE = 1_000_003  # rank r's random streams start r strides from rank 0's


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s own random stream: rank 0's is ``seed`` (so one process
    draws what it always drew), the others' far from it, so the ranks of a world draw their own
    dropout masks, augmentations, noise and negatives for their own examples rather than N
    copies of the same.

    >>> rank_seed(7, 0), rank_seed(7, 1)
    (7, 1000010)
    """
    return seed + RANK_SEED_STRIDE * rank


def rank_share(chosen: Any, world: World) -> np.ndarray:
    """This rank's share of one step's examples ``chosen`` (positions), for a task that draws
    each step's batch itself (token-count batches, graphs): every ``size``-th from ``rank``, or
    one of them (repeated) when the step holds fewer examples than the world has processes. So
    every rank takes every step, on its part of the step's batch, as one process would.

    >>> two = World(rank=1, size=2, launched=True)
    >>> rank_share(np.arange(5), two).tolist(), rank_share(np.arange(1), two).tolist()
    ([1, 3], [0])
    """
    chosen = np.asarray(chosen)
    if world.size == 1 or not len(chosen):
        return chosen
    if len(chosen) < world.size:
        return chosen[[world.rank % len(chosen)]]
    return chosen[world.rank :: world.size]


def mean_across(values: Mapping[str, float], weight: float, world: World) -> dict[str, float]:
    """Each value averaged over the ranks, weighted by ``weight`` (e.g. the examples each rank
    saw). Every rank must pass the same keys in the same order."""
    if not world.distributed or not values:
        return dict(values)
    keys = list(values)
    packed = torch.tensor([float(values[k]) * weight for k in keys] + [float(weight)],
                          dtype=torch.float64, device=_reduce_device())  # fmt: skip
    dist.all_reduce(packed)
    total = max(float(packed[-1]), 1e-300)
    return {k: float(packed[i]) / total for i, k in enumerate(keys)}


def any_across(flag: bool, world: World) -> bool:
    """True on every rank when it is true on any (a stop every rank takes together)."""
    if not world.distributed:
        return bool(flag)
    packed = torch.tensor([1.0 if flag else 0.0], device=_reduce_device())
    dist.all_reduce(packed, op=dist.ReduceOp.MAX)
    return bool(packed.item() > 0)


def from_main(value: Any, world: World) -> Any:
    """Rank 0's ``value`` on every rank (a small picklable object sent by torch.distributed)."""
    if not world.distributed:
        return value
    box = [value if world.main else None]
    dist.broadcast_object_list(box, src=0, device=_reduce_device())
    return box[0]


def order(payload: Any) -> None:
    r"""Rank 0 of a world of several: tell the other ranks to make a deep fit with it now
    (``payload``: what they need, e.g. the candidate and its parameters as rank 0 resolved them;
    not None). Nothing in one process, nor on another rank.

    The pattern of an application whose bake-off is rank 0's: rank 0 alone decides (its clock,
    its scores), orders every deep fit it makes before making it, and :func:`release`\ s the
    others at the end; they carry out its :func:`orders` and nothing else, so every rank meets
    the others at every collective of the engine the same number of times, in the same order.
    """
    world = current_world()
    if world.distributed and world.main:
        from_main(payload, world)


def orders() -> Iterator[Any]:
    r"""A rank other than 0: every payload rank 0 :func:`order`\ s, until it releases them."""
    world = current_world()
    while (payload := from_main(None, world)) is not None:
        yield payload


def release() -> None:
    """Rank 0, its deep fits done: the other ranks' :func:`orders` end (None is the end)."""
    world = current_world()
    if world.distributed and world.main:
        from_main(None, world)


def agreed(value: Any) -> Any:
    """Rank 0's ``value`` in this process's world: for what each rank would otherwise decide
    for itself from its own clock (epochs planned from a timed probe, a time limit's rest).

    >>> agreed(3)  # one process: its own
    3
    """
    return from_main(value, current_world())


def average_gradients(optimizer: torch.optim.Optimizer, world: World) -> None:
    """The mean over the world's ranks of the gradients ``optimizer``'s parameters hold (those
    with none, e.g. the networks a GAN step does not train, are left without), in one
    all-reduce: what DDP does for a model trained through its wrapper."""
    if not world.distributed:
        return
    grads = [p.grad for group in optimizer.param_groups for p in group["params"]
             if p.grad is not None]  # fmt: skip
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_state(model: torch.nn.Module, world: World, buffers_only: bool = False) -> None:
    """Rank 0's parameters (unless ``buffers_only``) and buffers on every rank, in place."""
    if not world.distributed:
        return
    tensors = [] if buffers_only else [p.data for p in model.parameters()]
    tensors += [b for b in model.buffers() if b.is_floating_point() or b.dtype == torch.long]
    for tensor in tensors:
        dist.broadcast(tensor, src=0)


def barrier(world: World) -> None:
    """Every rank waits here for all the others (e.g. until rank 0 has written a file)."""
    if world.distributed:  # an all-reduce on the CPU: the same over gloo alone or gloo + NCCL
        dist.all_reduce(torch.zeros(1, device=_reduce_device()))


def _reduce_device() -> torch.device:
    """Where the small collectives run: the CPU, over gloo (the group always has it, see
    :func:`setup`; no GPU synchronisation for a flag). A collective before any trainer joined
    the group (the bake-off agreeing on a candidate's options) joins it here."""
    if not dist.is_initialized():
        setup(torch.device("cpu"))
    return torch.device("cpu")


def free_port() -> int:
    """A TCP port free on this machine now (for a one-machine world's rendezvous)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_devices(devices: int, device: str = "auto") -> torch.device:
    """The device type ``devices`` processes on this machine train on, or a ConfigError when
    the machine has fewer of them (GPUs on CUDA, cores on a CPU).

    >>> check_devices(1, "cpu").type
    'cpu'
    """
    from layerwise.engine.config import resolve_device

    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ConfigError(f"--devices {devices!r} is not valid.", "Use a whole number >= 1.")
    kind = resolve_device(device)
    have = torch.cuda.device_count() if kind.type == "cuda" else os.cpu_count() or 1
    what = "GPUs" if kind.type == "cuda" else "CPU cores"
    if devices > have:
        raise ConfigError(f"--devices {devices} asks for more processes than this machine has "
                          f"{what} ({have}).", f"Use --devices {have} or fewer, or torchrun "
                          "across several machines.")  # fmt: skip
    return kind


def launch_arguments(devices: int, argv: list[str]) -> list[str]:
    """torchrun's arguments for ``layerwise`` with ``argv`` (``--devices`` taken out) in
    ``devices`` processes on this machine (a standalone rendezvous on a free port).

    >>> launch_arguments(2, ["train", "a.csv", "--devices", "2", "-t", "y"])[-5:]
    ['layerwise', 'train', 'a.csv', '-t', 'y']
    """
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--devices":
            skip = True
        elif not arg.startswith("--devices="):
            rest.append(arg)
    return ["--standalone", f"--nproc-per-node={devices}", "-m", "layerwise", *rest]


def launch(devices: int, argv: list[str]) -> None:
    """Run ``layerwise argv`` in ``devices`` processes through torch's elastic launcher (what
    ``torchrun`` runs); returns when all have finished, raises when one failed."""
    from torch.distributed.run import main as torchrun

    torchrun(launch_arguments(devices, argv))


def _entry(index: int, fn: Callable[..., Any], size: int, port: int, args: tuple) -> None:
    """One process of :func:`run_local`: its place set as torchrun sets it (the process is
    new, so nothing needs restoring after), the machine's cores shared out, as torchrun's
    OMP_NUM_THREADS=1 does for one per core: two processes of two threads on two cores
    spin-wait for each other."""
    os.environ.update({"RANK": str(index), "WORLD_SIZE": str(size), "LOCAL_RANK": str(index),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})  # fmt: skip
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))
    try:
        fn(*args)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run_local(size: int, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> None:
    """Run ``fn(*args)`` in ``size`` new processes on this machine, each in a world of
    ``size`` (its environment set as torchrun sets it); returns when all have finished, and
    raises when one failed. ``fn`` must be importable by name (a module-level function).
    ``timeout``: seconds after which every process is killed and TimeoutError raised (a rank
    that waits for another at a collective it never reaches would otherwise wait ``WAIT_S``)."""
    import time

    import torch.multiprocessing as mp

    ranks = mp.start_processes(_entry, args=(fn, size, free_port(), args), nprocs=size,
                               join=False, start_method="spawn")  # fmt: skip
    deadline = None if timeout is None else time.monotonic() + timeout
    while not ranks.join(timeout=0.25):
        if deadline is not None and time.monotonic() > deadline:
            for process in ranks.processes:
                process.kill()
            raise TimeoutError(f"{size} processes still running after {timeout:.0f} s")
