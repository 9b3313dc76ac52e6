"""What the classical models see of a molecule: Morgan (ECFP) fingerprints and RDKit's 2D
descriptors, as plain numpy matrices.

A Morgan fingerprint hashes each atom's circular neighbourhood (the atom, then the atoms within
one bond, two bonds, ...: radius 2 is ECFP4) into one of ``bits`` positions, so a bit stands
for a substructure and a random forest on the bits learns which substructures matter; the bit
can be drawn back on a molecule (:func:`morgan_bit_atoms`). The descriptors are ~200 computed
properties (logP, polar surface area, ring counts, charges, fragment counts) that a boosted
model can combine: a different view of the same molecule, with different errors.

Example:
    >>> from rdkit import Chem
    >>> mols = [Chem.MolFromSmiles(s) for s in ("CCO", "c1ccccc1O")]
    >>> morgan(mols).shape, morgan(mols).dtype.name, morgan(mols, counts=True).dtype.name
    ((2, 2048), 'uint8', 'float32')
    >>> values, names = descriptors(mols)
    >>> values.shape[0], "MolLogP" in names
    (2, True)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from layerwise.errors import ConfigError, DataError
from layerwise.tasks.molecules.chemistry import require_rdkit

ABSURD = 1e6  # a descriptor beyond this magnitude (Ipc on large molecules) is treated as missing


class BitEnvironment(NamedTuple):
    """One place a Morgan bit is set: the centre atom, the radius, the atoms and bonds of the
    environment (atom and bond indices of the molecule) and the environment as SMILES."""

    center: int
    radius: int
    atoms: tuple[int, ...]
    bonds: tuple[int, ...]
    smiles: str


def _molecules(mols: Sequence[Any]) -> list[Any]:
    mols = list(mols)
    for i, mol in enumerate(mols):
        if mol is None:
            raise DataError(
                f"Molecule {i} is None where an RDKit molecule was expected (its SMILES did "
                "not parse).",
                "Read molecules with layerwise's readers, which skip SMILES RDKit cannot parse.",
            )
    return mols


def _generator(radius: int, bits: int) -> Any:
    require_rdkit()
    from rdkit.Chem import rdFingerprintGenerator

    if not (0 <= int(radius) <= 6 and 1 <= int(bits) <= 1 << 20):
        raise ConfigError(
            f"A Morgan fingerprint of radius {radius} and {bits} bits was asked for.",
            "Use a radius from 0 to 6 (2 is ECFP4) and 1 to 1,048,576 bits (2048 is usual).",
        )
    return rdFingerprintGenerator.GetMorganGenerator(radius=int(radius), fpSize=int(bits))


def morgan(
    mols: Sequence[Any], radius: int = 2, bits: int = 2048, counts: bool = False
) -> np.ndarray:
    """Morgan (ECFP) fingerprints: ``[n, bits]`` uint8 bits, or float32 counts of how often
    each bit's environments occur (``counts``).

    Args:
        mols: RDKit molecules.
        radius: bonds out from each atom (2: ECFP4, 3: ECFP6).
        bits: fingerprint length.
        counts: counts instead of bits.

    >>> from rdkit import Chem
    >>> int(morgan([Chem.MolFromSmiles("CCCC")], counts=True).max())  # its two methyl groups
    2
    """
    mols = _molecules(mols)
    generator = _generator(radius, bits)
    out = np.zeros((len(mols), int(bits)), dtype=np.float32 if counts else np.uint8)
    for i, mol in enumerate(mols):
        if counts:
            out[i] = generator.GetCountFingerprintAsNumPy(mol)
        else:
            out[i] = generator.GetFingerprintAsNumPy(mol)
    return out


def morgan_bit_atoms(mol: Any, bit: int, radius: int = 2, bits: int = 2048) -> list[BitEnvironment]:
    """Where Morgan ``bit`` is set in ``mol``: each environment (centre atom and radius) that
    hashes to it, with its atoms, bonds and SMILES, for drawing the bit as a substructure.
    Empty when the bit is not set.

    >>> from rdkit import Chem
    >>> mol = Chem.MolFromSmiles("CC(=O)O")
    >>> bit = int(morgan([mol])[0].nonzero()[0][0])
    >>> len(morgan_bit_atoms(mol, bit)) >= 1
    True
    """
    generator = _generator(radius, bits)
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    extra = rdFingerprintGenerator.AdditionalOutput()
    extra.AllocateBitInfoMap()
    generator.GetFingerprintAsNumPy(mol, additionalOutput=extra)
    found = []
    for center, depth in extra.GetBitInfoMap().get(int(bit), ()):
        if depth == 0:
            atoms, bonds = (int(center),), ()
        else:
            bonds = tuple(
                sorted(int(b) for b in Chem.FindAtomEnvironmentOfRadiusN(mol, depth, center))
            )
            ends = {center}
            for b in bonds:
                bond = mol.GetBondWithIdx(b)
                ends.update((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
            atoms = tuple(sorted(int(a) for a in ends))
        smiles = Chem.MolFragmentToSmiles(
            mol, atomsToUse=list(atoms), bondsToUse=list(bonds) or None, rootedAtAtom=int(center)
        )
        found.append(BitEnvironment(int(center), int(depth), atoms, bonds, smiles))
    return found


def without_each_atom(mol: Any, radius: int = 2, bits: int = 2048,
                      counts: bool = False) -> np.ndarray:  # fmt: skip
    """The fingerprint of ``mol`` (row 0) and, row ``k + 1``, the fingerprint with every
    environment that holds atom ``k`` taken out: a model's prediction on each row minus its
    prediction on row 0 is that atom's contribution by occlusion (the way RDKit's similarity
    maps weigh atoms), so a fingerprint model can be explained atom by atom.

    >>> from rdkit import Chem
    >>> rows = without_each_atom(Chem.MolFromSmiles("CCO"), counts=True)
    >>> rows.shape, float(rows[0].sum()), bool((rows[1:].sum(axis=1) < rows[0].sum()).all())
    ((4, 2048), 6.0, True)
    """
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    generator = _generator(radius, bits)
    extra = rdFingerprintGenerator.AdditionalOutput()
    extra.AllocateBitInfoMap()
    full = generator.GetCountFingerprintAsNumPy(mol, additionalOutput=extra).astype(np.float32)
    n = mol.GetNumAtoms()
    taken = np.zeros((n, int(bits)), dtype=np.float32)  # occurrences of each bit an atom is in
    for bit, places in extra.GetBitInfoMap().items():
        for center, depth in places:
            atoms = {int(center)}
            for b in (
                Chem.FindAtomEnvironmentOfRadiusN(mol, int(depth), int(center)) if depth else ()
            ):
                bond = mol.GetBondWithIdx(b)
                atoms.update((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
            for atom in atoms:
                taken[atom, bit] += 1
    rows = np.vstack([full[None], np.maximum(full[None] - taken, 0)])
    return rows if counts else (rows > 0).astype(np.uint8)


def descriptor_names() -> list[str]:
    """The names of RDKit's 2D descriptors (``rdkit.Chem.Descriptors.descList``), in order."""
    require_rdkit()
    from rdkit.Chem import Descriptors

    return [name for name, _ in Descriptors.descList]


def descriptors(
    mols: Sequence[Any], names: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """RDKit's 2D descriptors: ``[n, d]`` float32 and their names. A descriptor RDKit cannot
    compute for a molecule, or that is not finite or beyond 1e6 in magnitude, is NaN (LightGBM
    treats it as missing). RDKit's and numpy's warnings are silenced.

    Args:
        mols: RDKit molecules.
        names: the descriptors to compute, in this order (a saved model's); None: all.

    Raises:
        ConfigError: a name this RDKit does not have (a model saved with another version).
    """
    names = descriptor_names() if names is None else list(names)  # RDKit there, or one error
    from rdkit import rdBase
    from rdkit.Chem import Descriptors

    mols = _molecules(mols)
    table = dict(Descriptors.descList)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ConfigError(
            f"RDKit {rdBase.rdkitVersion} has no descriptor {', '.join(unknown[:5])}.",
            "Install the RDKit version the model was trained with, or train again.",
        )
    functions = [table[n] for n in names]
    out = np.full((len(mols), len(names)), np.nan, dtype=np.float64)
    blocker = rdBase.BlockLogs()  # RDKit's own messages, while it lives
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for i, mol in enumerate(mols):
                for j, function in enumerate(functions):
                    try:
                        out[i, j] = function(mol)
                    except Exception:  # any descriptor failure is a missing value
                        pass
    finally:
        del blocker
    out[~np.isfinite(out) | (np.abs(out) > ABSURD)] = np.nan
    return out.astype(np.float32), names
