"""Molecules as directed graphs for the D-MPNN: atom and bond features, one molecule's graph,
and many graphs joined into one batch.

The features are chemprop's (v2 ``MultiHotAtomFeaturizer.v2`` and its bond featuriser), so the
network sees what the reference implementation sees: for each atom a one-hot of its element
(H to Kr and iodine, the elements of drug-like molecules, plus "other"), its degree (0-5), formal
charge (-2..2), chiral tag, total hydrogens (0-4) and hybridisation (s to sp3d2), each with an
"other" slot, then an aromatic flag and its mass / 100; for each bond a one-hot of its type
(single, double, triple, aromatic, other), whether it is conjugated and in a ring, and its
stereo label (none, any, Z, E, cis, trans, other).

Each bond becomes two directed bonds, ``2b`` from its begin atom to its end atom and ``2b + 1``
back, so the reverse of directed bond ``e`` is ``e ^ 1``; messages travel along directed bonds
(:mod:`layerwise.models.dmpnn`). Only the methods of the RDKit ``Mol`` given are used: nothing
here imports RDKit.

Example:
    >>> from rdkit import Chem
    >>> graph = mol_graph(Chem.MolFromSmiles("CCO"))
    >>> graph.atoms.shape, graph.bonds.shape, graph.src.tolist(), graph.rev.tolist()
    ((3, 72), (4, 14), [0, 1, 1, 2], [1, 0, 3, 2])
    >>> atoms, bonds, src, dst, rev, atom_mol, n_mols = batch_graphs([graph, graph])
    >>> src.tolist(), rev.tolist()[4:], atom_mol.tolist(), n_mols
    ([0, 1, 1, 2, 3, 4, 4, 5], [5, 4, 7, 6], [0, 0, 0, 1, 1, 1], 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from layerwise.errors import DataError

# the elements of chemprop v2's featuriser: hydrogen to krypton, and iodine
ATOMIC_NUMBERS = (*range(1, 37), 53)
DEGREES = (0, 1, 2, 3, 4, 5)
FORMAL_CHARGES = (-2, -1, 0, 1, 2)
CHIRAL_TAGS = (0, 1, 2, 3)  # unspecified, tetrahedral CW, tetrahedral CCW, other
HYDROGENS = (0, 1, 2, 3, 4)
HYBRIDISATIONS = ("S", "SP", "SP2", "SP2D", "SP3", "SP3D", "SP3D2")
BOND_TYPES = (1, 2, 3, 12)  # RDKit's SINGLE, DOUBLE, TRIPLE, AROMATIC
STEREO = (0, 1, 2, 3, 4, 5)  # none, any, Z, E, cis, trans

# (name, choices) of each one-hot block; each block has one more slot for "other"
ATOM_BLOCKS = (
    ("element", ATOMIC_NUMBERS),
    ("degree", DEGREES),
    ("formal_charge", FORMAL_CHARGES),
    ("chiral_tag", CHIRAL_TAGS),
    ("hydrogens", HYDROGENS),
    ("hybridisation", HYBRIDISATIONS),
)
ATOM_DIM = sum(len(choices) + 1 for _, choices in ATOM_BLOCKS) + 2  # + aromatic, mass / 100
BOND_DIM = len(BOND_TYPES) + 1 + 2 + len(STEREO) + 1  # + conjugated, in ring, stereo
_ATOM_OFFSETS = np.cumsum([0] + [len(c) + 1 for _, c in ATOM_BLOCKS])[:-1].tolist()
_AROMATIC, _MASS = ATOM_DIM - 2, ATOM_DIM - 1
_CONJUGATED, _IN_RING = len(BOND_TYPES) + 1, len(BOND_TYPES) + 2
_STEREO_AT = len(BOND_TYPES) + 3


@dataclass
class MolGraph:
    """One molecule's directed graph: ``atoms`` float32 [A, ATOM_DIM], ``bonds`` float32
    [2B, BOND_DIM] (one row per directed bond), ``src`` / ``dst`` int64 [2B] (the atoms each
    directed bond leaves and enters) and ``rev`` int64 [2B] (the index of the reverse bond)."""

    atoms: np.ndarray
    bonds: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    rev: np.ndarray

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)


def _slot(value: Any, choices: Sequence[Any]) -> int:
    """The index of ``value`` in ``choices``, or ``len(choices)`` (the "other" slot)."""
    try:
        return choices.index(value)
    except ValueError:
        return len(choices)


def atom_features(atom: Any) -> np.ndarray:
    """The ``ATOM_DIM`` features of one RDKit atom (see the module doc).

    Example:
        >>> from rdkit import Chem
        >>> x = atom_features(Chem.MolFromSmiles("c1ccccc1").GetAtomWithIdx(0))
        >>> int(x.sum() - x[-1]), round(float(x[-1]), 3)  # 6 one-hots + aromatic, mass / 100
        (7, 0.12)
    """
    values = (
        atom.GetAtomicNum(),
        atom.GetTotalDegree(),
        atom.GetFormalCharge(),
        int(atom.GetChiralTag()),
        atom.GetTotalNumHs(),
        str(atom.GetHybridization()),
    )
    out = np.zeros(ATOM_DIM, np.float32)
    for (_, choices), offset, value in zip(ATOM_BLOCKS, _ATOM_OFFSETS, values, strict=True):
        out[offset + _slot(value, choices)] = 1.0
    out[_AROMATIC] = float(atom.GetIsAromatic())
    out[_MASS] = 0.01 * atom.GetMass()
    return out


def bond_features(bond: Any) -> np.ndarray:
    """The ``BOND_DIM`` features of one RDKit bond (the same for both directions).

    Example:
        >>> from rdkit import Chem
        >>> bond_features(Chem.MolFromSmiles("C=C").GetBondWithIdx(0)).tolist()[:5]
        [0.0, 1.0, 0.0, 0.0, 0.0]
    """
    out = np.zeros(BOND_DIM, np.float32)
    out[_slot(int(bond.GetBondType()), BOND_TYPES)] = 1.0
    out[_CONJUGATED] = float(bond.GetIsConjugated())
    out[_IN_RING] = float(bond.IsInRing())
    out[_STEREO_AT + _slot(int(bond.GetStereo()), STEREO)] = 1.0
    return out


def mol_graph(mol: Any) -> MolGraph:
    """The directed graph of an RDKit molecule (hydrogens implicit, as parsed from SMILES).
    A molecule of one atom has no bonds: its bond arrays have zero rows.

    Raises:
        DataError: if ``mol`` is None (an unparsed SMILES) or has no atoms.
    """
    if mol is None or not hasattr(mol, "GetAtoms") or mol.GetNumAtoms() == 0:
        raise DataError(
            f"A molecule graph needs an RDKit molecule with atoms; got {type(mol).__name__}"
            + (" with no atoms" if mol is not None and hasattr(mol, "GetAtoms") else "")
            + ".",
            "Parse the SMILES first and leave out the ones RDKit cannot read.",
        )
    atoms = np.stack([atom_features(a) for a in mol.GetAtoms()])
    n_bonds = mol.GetNumBonds()
    bonds = np.zeros((2 * n_bonds, BOND_DIM), np.float32)
    src = np.zeros(2 * n_bonds, np.int64)
    dst = np.zeros(2 * n_bonds, np.int64)
    for bond in mol.GetBonds():
        b, i, j = bond.GetIdx(), bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        bonds[2 * b] = bonds[2 * b + 1] = bond_features(bond)
        src[2 * b], dst[2 * b], src[2 * b + 1], dst[2 * b + 1] = i, j, j, i
    rev = np.arange(2 * n_bonds, dtype=np.int64) ^ 1
    return MolGraph(atoms, bonds, src, dst, rev)


def batch_graphs(graphs: Sequence[MolGraph]) -> tuple:
    """Many graphs as one disconnected graph, the model's inputs: torch tensors ``atoms``
    [A, ATOM_DIM], ``bonds`` [E, BOND_DIM], ``src``, ``dst``, ``rev`` [E] (indices shifted by
    the atoms / bonds before each molecule), ``atom_mol`` [A] (each atom's molecule) and the
    int ``n_mols``.

    Raises:
        DataError: if ``graphs`` is empty.
    """
    import torch

    if len(graphs) == 0:
        raise DataError("batch_graphs got no graphs.", "Give at least one molecule.")
    n_atoms = np.array([g.n_atoms for g in graphs], np.int64)
    n_edges = np.array([len(g.src) for g in graphs], np.int64)
    atom_start = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    edge_start = np.concatenate([[0], np.cumsum(n_edges)[:-1]])
    atom_shift = np.repeat(atom_start, n_edges)
    src = np.concatenate([g.src for g in graphs]) + atom_shift
    dst = np.concatenate([g.dst for g in graphs]) + atom_shift
    rev = np.concatenate([g.rev for g in graphs]) + np.repeat(edge_start, n_edges)
    atom_mol = np.repeat(np.arange(len(graphs), dtype=np.int64), n_atoms)
    return (
        torch.from_numpy(np.concatenate([g.atoms for g in graphs])),
        torch.from_numpy(np.concatenate([g.bonds for g in graphs])),
        torch.from_numpy(src),
        torch.from_numpy(dst),
        torch.from_numpy(rev),
        torch.from_numpy(atom_mol),
        len(graphs),
    )
