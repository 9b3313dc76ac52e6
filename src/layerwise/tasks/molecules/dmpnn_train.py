"""The deep model of molecular-property: a D-MPNN (:mod:`layerwise.models.dmpnn`) on the
molecular graph (:mod:`.graphs`), trained by the engine's one training loop, as an ensemble.

Training follows chemprop's defaults: hidden 300, depth 3, no dropout, batches of 50 molecules,
Adam at 1e-3 after two epochs of warmup (then a cosine), 50 epochs (up to 100 when the time
budget holds five members of 50); the epoch whose validation loss is lowest is kept. Measured values are standardised per target (the mean and
standard deviation of the training set, saved with the model) and trained with the squared
error; yes/no properties with binary cross-entropy on logits. A missing value (NaN, a blank of a
multitask file) counts in neither loss nor metric.

The ensemble: ``ensemble`` members (default: ``DEFAULT_MEMBERS`` of chemprop's 50 epochs, within
``CPU_BUDGET_S`` on a CPU; with a ``time_limit`` as many as it holds at 50 epochs, 1 to 5; on a
CPU as many train side by side as there are cores), each from its own seed; the prediction is their mean and their spread (:meth:`DMPNNModel.
predict_members`) is each prediction's uncertainty. When no ``epochs`` are given they are planned
from a timed probe of a few training steps and a validation pass, so each member's cosine ends
inside its share of ``time_limit`` rather than being cut short.

Atom contributions (:meth:`DMPNNModel.atom_contributions`) are by occlusion in the readout: the
prediction minus the prediction with that atom's learned vector left out of the molecule vector.
Chosen over gradient x input because it is the change of the model's actual output (no
linearisation across ReLUs, no baseline to choose), it is in the target's own units, and it
costs one message passing and one pass of the head over A + 1 vectors per molecule. Message
passing itself is left whole, so a contribution is that of the atom in its context.

Example:
    >>> from rdkit import Chem
    >>> from layerwise.tasks.molecules.molecule_set import MoleculeSet
    >>> smiles = ["C" * k + "O" for k in range(1, 13)]
    >>> data = MoleculeSet(smiles, [Chem.MolFromSmiles(s) for s in smiles],
    ...                    np.arange(12.0)[:, None], ["y"], "regression")
    >>> model = DMPNNModel(seed=0, epochs=2, hidden=16, ensemble=2)
    >>> model = model.fit(data.subset(range(9)), data.subset(range(9, 12)))
    >>> model.predict(data.mols[:3]).shape, model.predict_members(data.mols[:3]).shape
    ((3, 1), (2, 3, 1))
    >>> model.atom_contributions(data.mols[0]).shape == (data.mols[0].GetNumAtoms(), 1)
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from layerwise.engine import Trainer, TrainerConfig
from layerwise.engine.config import resolve_device
from layerwise.engine.distributed import agreed, current_world
from layerwise.errors import ConfigError, DataError, RunFolderError, check_option_names
from layerwise.models.dmpnn import DMPNN, DMPNNConfig
from layerwise.tasks.molecules.dmpnn_plan import MAX_MEMBERS, MAX_STORED_MEMBERS, plan_members
from layerwise.tasks.molecules.graph_batches import GraphBatches, masked_loss
from layerwise.tasks.molecules.graphs import ATOM_DIM, BOND_DIM, batch_graphs, mol_graph

MODEL_FILE = "dmpnn.safetensors"
BATCH_SIZE, LR, WARMUP_EPOCHS = 50, 1e-3, 2
CPU_BUDGET_S = 150.0  # all members' training on a CPU when no time_limit is given
# One CPU thread unless cpu_threads says otherwise. ESOL on 2 cores: 0.33 s an epoch with two
# threads on an idle machine, 0.46 s with one; but with other work running, two threads took
# 1.3 to 13 s an epoch (OpenMP threads waiting for each other at every one of the many small
# operations of a step) where one thread kept its 0.46 s.
CPU_THREADS = 1
WEAK_MEMBER = 1.5  # a member cut short with a best validation loss over this x the best one's
PREDICT_BATCH = 256
ARCHITECTURE = ("hidden", "depth", "dropout", "aggregation", "ffn_hidden", "ffn_layers")
PARAMS = (*ARCHITECTURE, "epochs", "ensemble", "batch_size", "lr", "weight_decay", "patience",
          "descriptors", "time_limit", "device", "progress", "checkpoint_dir", "resume",
          "cpu_threads")  # fmt: skip
_FIX = "Use the run folder as `layerwise train` wrote it, or train again."


def _checked(data: Any, what: str) -> tuple[list[Any], np.ndarray, str]:
    mols, targets = list(getattr(data, "mols", [])), np.asarray(getattr(data, "targets", []))
    kind = getattr(data, "kind", None)
    if not mols or targets.ndim != 2 or len(targets) != len(mols) or targets.shape[1] == 0:
        raise DataError(f"The {what} molecules are {len(mols)} with targets of shape "
                        f"{list(targets.shape)}; the D-MPNN needs molecules and targets [n, t].",
                        "Give a MoleculeSet with at least one molecule and one target.")  # fmt: skip
    if kind not in ("regression", "classification"):
        raise DataError(f"The {what} set's kind is {kind!r}.", "Use regression or classification.")
    return mols, targets.astype(np.float64), kind


class DMPNNModel:
    """A D-MPNN ensemble trained by the engine (see the module doc)."""

    name: ClassVar[str] = "dmpnn"
    family: ClassVar[str] = "deep"

    def __init__(self, seed: int = 0, **params: Any):
        check_option_names("dmpnn", params, PARAMS)
        self.seed, self.params = int(seed), dict(params)
        self.nets: list[DMPNN] = []
        self.kind, self.mean, self.std = "regression", np.zeros(1), np.ones(1)
        self.descriptor_names: list[str] = []
        self.extra_mean, self.extra_std = np.zeros(0), np.ones(0)
        self.history: Any = None
        self.summary: list[dict[str, Any]] = []
        self.fit_seconds = 0.0
        self._epoch_s = 0.0  # the probe's seconds per epoch (0: not probed)
        self.workers = 1  # members trained side by side (see _workers)
        self.notes: list[str] = []

    # ---- training ---------------------------------------------------------------------------
    def fit(
        self, train: Any, val: Any | None = None, time_limit: float | None = None
    ) -> DMPNNModel:
        """Train the ensemble on ``train`` (a MoleculeSet), keeping each member's epoch of
        lowest ``val`` loss, within ``time_limit`` seconds (of everything here) when given."""
        started = time.perf_counter()
        mols, targets, self.kind = _checked(train, "training")
        if np.all(np.isnan(targets), axis=0).any():
            raise DataError("A target has no value in the training molecules.",
                            "Leave that target out, or give molecules with its values.")  # fmt: skip
        if self.kind == "regression":
            self.mean = np.nan_to_num(np.nanmean(targets, axis=0))
            std = np.nan_to_num(np.nanstd(targets, axis=0))
            self.std = np.where(std > 1e-12, std, 1.0)
        else:
            self.mean, self.std = np.zeros(targets.shape[1]), np.ones(targets.shape[1])
        graphs = [mol_graph(m) for m in mols]  # once per fit: every epoch batches these
        extra = self._fit_extra(mols)
        batch_size = int(self.params.get("batch_size", BATCH_SIZE))
        scaled = (targets - self.mean) / self.std
        held = None
        if val is not None and len(getattr(val, "mols", [])):
            val_mols, val_targets, _ = _checked(val, "validation")
            held = GraphBatches([mol_graph(m) for m in val_mols], (val_targets - self.mean) /
                                self.std, 4 * batch_size, shuffle=False,
                                extra=self._extra(val_mols))  # fmt: skip
        config = DMPNNConfig(atom_dim=ATOM_DIM, bond_dim=BOND_DIM, n_tasks=targets.shape[1],
                             extra_dim=len(self.descriptor_names),
                             **{k: self.params[k] for k in ARCHITECTURE if k in self.params})  # fmt: skip
        limit = time_limit if time_limit is not None else self.params.get("time_limit")
        device = resolve_device(self.params.get("device", "auto"))
        if device.type == "cpu" and self.params.get("cpu_threads") is None:
            self.params["cpu_threads"] = CPU_THREADS
        budgeted = limit is not None
        if limit is None and device.type == "cpu":
            limit = CPU_BUDGET_S
        make = lambda i: GraphBatches(graphs, scaled, batch_size, self.seed + i, True, extra)  # noqa: E731
        self.workers = self._workers(device)
        world = current_world()
        # in a world of several processes rank 0 plans (its probe, its clock) for every rank
        plan = (plan_members(self, config, make(0), held, limit, started, device, budgeted)
                if world.main else None)  # fmt: skip
        members, epochs = agreed(plan)
        self._epoch_s = agreed(self._epoch_s)
        found: dict[int, tuple] = {}
        for first in range(0, members, self.workers):
            wave = list(range(first, min(members, first + self.workers)))
            left = None if limit is None else limit - (time.perf_counter() - started)
            waves = math.ceil((members - first) / self.workers)
            share = agreed(None if left is None else max(left, 0.0) / waves)
            if first and share is not None and share < 0.5 * self._epoch_s * epochs:
                self.notes.append(f"dmpnn: {first} of {members} members trained; the time "
                                  "limit was spent")  # fmt: skip
                break
            found.update(self._train_wave(wave, config, make, held, epochs, share))
        self.nets = [found[i][0] for i in sorted(found)]
        self.summary = [found[i][1] for i in sorted(found)]
        self.history = found[min(found)][2]
        self._drop_weak_members()
        self.fit_seconds = time.perf_counter() - started
        best = ", ".join(str(s["best_epoch"]) for s in self.summary)
        self.notes.append(f"dmpnn: {len(self.nets)} member(s) x {epochs} epochs in "
                          f"{self.fit_seconds:.0f} s; epochs kept {best}")  # fmt: skip
        return self

    def _workers(self, device: torch.device) -> int:
        """Members trained at once: one a core on a CPU (one thread each), else one. Dropout
        draws from torch's one global generator, which members side by side would share, so
        a network with dropout trains its members one after the other (the same seed, the
        same result)."""
        import os

        one_thread = int(self.params.get("cpu_threads") or CPU_THREADS) == 1
        if device.type != "cpu" or not one_thread or float(self.params.get("dropout") or 0) > 0:
            return 1
        if current_world().distributed:  # members side by side would interleave collectives
            return 1
        return max(1, min(os.cpu_count() or 1, MAX_MEMBERS))

    def _train_wave(self, wave: list[int], config: DMPNNConfig, make: Callable, held: Any,
                    epochs: int, share: float | None) -> dict[int, tuple]:  # fmt: skip
        """Members ``wave`` side by side (threads: torch runs its operations outside Python's
        lock), each with one intra-op thread; ``{i: (net, summary, history)}``."""
        nets = {}
        for i in wave:  # initialised here, in order: the global generator is not shared
            torch.manual_seed(self.seed + i)
            nets[i] = DMPNN(config)
        if len(wave) == 1:
            i = wave[0]
            return {i: self._train_member(i, nets[i], make(i), held, epochs, share)}
        from concurrent.futures import ThreadPoolExecutor

        before = torch.get_num_threads()
        torch.set_num_threads(1)  # for every member at once: none of them sets it back
        try:
            with ThreadPoolExecutor(len(wave)) as pool:
                jobs = {i: pool.submit(self._train_member, i, nets[i], make(i), held, epochs,
                                       share, True) for i in wave}  # fmt: skip
                return {i: job.result() for i, job in jobs.items()}
        finally:
            torch.set_num_threads(before)

    def _train_member(self, i: int, net: DMPNN, train: GraphBatches, held: GraphBatches | None,
                      epochs: int, share: float | None, side_by_side: bool = False) -> tuple:  # fmt: skip
        steps = len(train)
        cfg = TrainerConfig.from_params(
            self.params, self.seed + i,
            {"lr": LR, "weight_decay": 0.0, "patience": None},
            epochs=epochs, optimizer="adam", schedule="cosine",
            warmup_steps=max(1, min(WARMUP_EPOCHS * steps, epochs * steps // 10)),
            cpu_threads=None if side_by_side else self.params.get("cpu_threads"),
            mixed_precision="off",
        )  # fmt: skip
        if side_by_side:  # one progress bar a member would overwrite each other
            cfg.progress = False
        cfg.time_limit = share
        if cfg.checkpoint_dir is not None:
            cfg.checkpoint_dir = Path(cfg.checkpoint_dir) / f"member{i}"
        metrics = {"rmse" if self.kind == "regression" else "roc_auc": self._metric()}
        trainer = Trainer(net, masked_loss(self.kind), cfg, metrics=metrics)
        train.epoch_of = lambda: len(trainer.history) + 1
        history = trainer.fit(train, val=held)
        best = trainer.history.best if len(trainer.history) else None
        summary = {"epochs": len(history), "best_epoch": trainer.best_epoch,
                   "stopped": trainer.stopped_reason,
                   "best": None if best is None else best.get(history.monitor)}  # fmt: skip
        return trainer.model.to("cpu").eval(), summary, history

    def _drop_weak_members(self) -> None:
        """Leave out members the time limit cut short whose best validation loss is over
        ``WEAK_MEMBER`` times the best member's: on a machine busier than the probe saw, a
        member of a few epochs (ESOL: RMSE 1.5 against 0.7) spoils the mean. Members that
        trained their planned epochs all stay, whatever their loss."""
        losses = [s["best"] for s in self.summary]
        if len(self.nets) < 2 or not all(isinstance(v, float) and np.isfinite(v) for v in losses):
            return
        best = min(losses)
        keep = [i for i, (v, s) in enumerate(zip(losses, self.summary, strict=True))
                if s["stopped"] != "time limit" or v <= WEAK_MEMBER * best]  # fmt: skip
        if len(keep) < len(self.nets):
            self.notes.append(f"dmpnn: {len(self.nets) - len(keep)} member(s) cut short by the "
                              f"time limit left out, their validation loss over {WEAK_MEMBER} x "
                              "the best member's")  # fmt: skip
            for i, record in enumerate(self.summary):
                record["dropped"] = i not in keep
            self.nets = [self.nets[i] for i in keep]

    def _metric(self) -> Callable[[torch.Tensor, torch.Tensor], float]:
        from layerwise.tasks.molecules.scores import property_scores

        names = [str(j) for j in range(len(self.mean))]
        key = "rmse" if self.kind == "regression" else "roc_auc"

        def metric(out: torch.Tensor, target: torch.Tensor) -> float:
            y, p = self._outputs(target.double().numpy(), True), self._outputs(out.double().numpy())
            value = property_scores(y, p, names, self.kind).get(key)
            return float("nan") if value is None else float(value)

        return metric

    # ---- descriptors (option) ---------------------------------------------------------------
    def _fit_extra(self, mols: list[Any]) -> np.ndarray | None:
        """With ``descriptors``: RDKit's 2D descriptors of the training molecules, standardised
        (the statistics saved); those constant or mostly missing in training are left out."""
        self.descriptor_names = []
        if not self.params.get("descriptors"):
            return None
        from layerwise.tasks.molecules.fingerprints import descriptors

        values, names = descriptors(mols)
        values = values.astype(np.float64)
        known = np.isfinite(values).mean(axis=0) >= 0.9
        with np.errstate(all="ignore"):
            std = np.nanstd(values, axis=0)
        keep = known & (np.nan_to_num(std) > 1e-9)
        self.descriptor_names = [n for n, k in zip(names, keep, strict=True) if k]
        self.extra_mean = np.nanmean(values[:, keep], axis=0)
        self.extra_std = std[keep]
        return self._extra(mols, values[:, keep])

    def _extra(self, mols: list[Any], values: np.ndarray | None = None) -> np.ndarray | None:
        if not self.descriptor_names:
            return None
        if values is None:
            from layerwise.tasks.molecules.fingerprints import descriptors

            values = descriptors(mols, self.descriptor_names)[0].astype(np.float64)
        scaled = (values - self.extra_mean) / self.extra_std
        return np.clip(np.nan_to_num(scaled, nan=0.0), -10, 10).astype(np.float32)

    # ---- use --------------------------------------------------------------------------------
    def _outputs(self, raw: np.ndarray, targets: bool = False) -> np.ndarray:
        """Network outputs (or scaled targets) in the target's units, or probabilities."""
        if self.kind == "regression":
            return raw * self.std + self.mean
        return raw if targets else 1.0 / (1.0 + np.exp(-raw))

    def predict_members(self, mols: Sequence[Any]) -> np.ndarray:
        """Each member's predictions: ``[members, n, targets]`` float64 (values in the
        target's units, or P(class 1)); their standard deviation is the uncertainty."""
        if not self.nets:
            raise ConfigError("The dmpnn is not fitted.", "Call fit() or load().")
        mols = list(mols)
        out = np.zeros((len(self.nets), len(mols), self.nets[0].config.n_tasks))
        if not mols:
            return out
        graphs = [mol_graph(m) for m in mols]
        extra = self._extra(mols)
        for start in range(0, len(mols), PREDICT_BATCH):
            stop = min(start + PREDICT_BATCH, len(mols))
            inputs = batch_graphs(graphs[start:stop])
            if extra is not None:
                inputs = (*inputs, torch.from_numpy(extra[start:stop]))
            with torch.no_grad():
                for k, net in enumerate(self.nets):
                    out[k, start:stop] = net(*inputs).double().numpy()
        return self._outputs(out)

    def predict(self, mols: Sequence[Any]) -> np.ndarray:
        """The ensemble's mean prediction, ``[n, targets]`` float64."""
        return self.predict_members(mols).mean(axis=0)

    def atom_contributions(self, mol: Any) -> np.ndarray:
        """How much each atom moves the prediction, ``[atoms, targets]`` in the target's units
        (or probability): the prediction minus the prediction with that atom's vector left
        out of the readout, averaged over the members (see the module doc)."""
        if not self.nets:
            raise ConfigError("The dmpnn is not fitted.", "Call fit() or load().")
        atoms, bonds, src, dst, rev, _, _ = batch_graphs([mol_graph(mol)])
        extra = self._extra([mol])
        extra_t = None if extra is None else torch.from_numpy(extra)
        total = np.zeros((atoms.shape[0], self.nets[0].config.n_tasks))
        with torch.no_grad():
            for net in self.nets:
                full, without = net.occluded(atoms, bonds, src, dst, rev, extra_t)
                total += self._outputs(full.double().numpy()) - self._outputs(
                    without.double().numpy()
                )
        return total / len(self.nets)

    # ---- run folder -------------------------------------------------------------------------
    def save(self, run: Any) -> dict[str, Any]:
        """Write every member's weights to ``dmpnn.safetensors`` (prefixed ``member<i>.``);
        return what :meth:`load` needs (JSON-able)."""
        from layerwise.engine.checkpoint import save_weights

        tensors = {f"member{i}.{key}": value for i, net in enumerate(self.nets)
                   for key, value in net.state_dict().items()}  # fmt: skip
        save_weights(run.file(MODEL_FILE), tensors)
        return {"file": MODEL_FILE, "architecture": self.nets[0].config.to_dict(),
                "members": len(self.nets), "kind": self.kind, "mean": self.mean.tolist(),
                "std": self.std.tolist(), "descriptors": list(self.descriptor_names),
                "descriptor_mean": self.extra_mean.tolist(),
                "descriptor_std": self.extra_std.tolist(), "seed": self.seed,
                "training": self.summary, "fit_seconds": round(self.fit_seconds, 2),
                "notes": list(self.notes)}  # fmt: skip

    @classmethod
    def load(cls, run: Any, info: dict[str, Any]) -> DMPNNModel:
        """The ensemble :meth:`save` wrote; every member's shapes are checked against the
        weights file before anything is allocated; settings that are not ones :meth:`save`
        writes are a RunFolderError."""
        from layerwise.runs.weights import config_from, read_tensors, restore_module

        if not isinstance(info, dict):
            raise RunFolderError(f"The dmpnn settings in '{run.path}' are not an object.", _FIX)
        config = config_from(DMPNNConfig, info.get("architecture"), run)
        model = cls(seed=int(info.get("seed", 0)) if isinstance(info.get("seed"), int) else 0)
        model.kind, members = info.get("kind"), info.get("members")
        t, d = config.n_tasks, config.extra_dim
        model.mean, model.std = _floats(info.get("mean"), t), _floats(info.get("std"), t)
        names = info.get("descriptors", [])
        model.extra_mean = _floats(info.get("descriptor_mean", []), d)
        model.extra_std = _floats(info.get("descriptor_std", []), d)
        valid = (
            model.kind in ("regression", "classification") and isinstance(members, int)
            and 1 <= members <= MAX_STORED_MEMBERS and model.mean is not None
            and model.std is not None and bool(np.all(model.std > 0))
            and isinstance(names, list) and len(names) == d and all(isinstance(n, str) for n in names)
            and model.extra_mean is not None and model.extra_std is not None
            and bool(np.all(model.extra_std > 0)) and isinstance(info.get("file"), str)
            and config.atom_dim == ATOM_DIM and config.bond_dim == BOND_DIM
        )  # fmt: skip
        if not valid:
            raise RunFolderError(f"The dmpnn settings in '{run.path}' are not valid (kind "
                                 f"{str(model.kind)[:40]!r}, members {str(members)[:20]}).",
                                 _FIX)  # fmt: skip
        tensors = read_tensors(run, info["file"])
        found = {key.split(".", 1)[0] for key in tensors}
        if found != {f"member{i}" for i in range(members)}:
            raise RunFolderError(f"'{info['file']}' in '{run.path}' holds {len(found)} member(s) "
                                 f"where its settings say {members}.", _FIX)  # fmt: skip
        model.nets = [restore_module(run, info["file"], lambda: DMPNN(config), tensors=tensors,
                                     prefix=f"member{i}.").eval() for i in range(members)]  # fmt: skip
        model.descriptor_names = list(names)
        model.summary = info.get("training") if isinstance(info.get("training"), list) else []
        model.notes = [str(n) for n in info.get("notes", [])][:20]
        return model


def _floats(values: Any, n: int) -> np.ndarray | None:
    """``values`` as n finite floats, or None when it is not that."""
    if not isinstance(values, list) or len(values) != n:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    out = np.asarray(values, dtype=np.float64)
    return out if np.all(np.isfinite(out)) else None
