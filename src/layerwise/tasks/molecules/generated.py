"""Generated molecules with a solubility-like property, for tests and quick checks: no files.

Each molecule is a ring system with a few substituents and an optional chain, written as SMILES
from fragments (so every one is valid and they share scaffolds, as real series do). The value
is Delaney's ESOL equation (J. Chem. Inf. Comput. Sci. 2004), which estimates log solubility
from logP, molecular weight, rotatable bonds and the aromatic share of the heavy atoms,
computed by RDKit, plus noise: a property that depends on the structure as a measured one does,
learnable by fingerprints and by a graph network alike. ``kind="classification"`` thresholds it
at its median ("soluble").

Example:
    >>> s = generated_molecules(20, seed=0)
    >>> len(s), s.target_names, s.kind
    (20, ['logS'], 'regression')
"""

from __future__ import annotations

from typing import Any

import numpy as np

RINGS = ("c1ccccc1", "c1ccncc1", "C1CCCCC1", "c1ccc2ccccc2c1", "c1ccoc1", "c1ccsc1",
         "C1CCNCC1", "c1cnc2ccccc2c1", "C1CCOC1", "c1ccc(-c2ccccc2)cc1", "O=C1CCCN1",
         "c1cc[nH]c1")  # fmt: skip
SUBSTITUENTS = ("C", "CC", "O", "N", "Cl", "F", "Br", "C(=O)O", "C(=O)N", "OC", "C#N",
                "[N+](=O)[O-]", "C(F)(F)F", "S(=O)(=O)N", "CO", "C(C)C", "OCC")  # fmt: skip
CHAINS = ("", "CC", "CCC", "CCO", "CCCC", "CC(C)", "OCC", "CCN", "C=C", "CC(=O)")


def _esol(mol: Any) -> float:
    from rdkit.Chem import Crippen, Descriptors, Lipinski

    heavy = max(mol.GetNumHeavyAtoms(), 1)
    aromatic = sum(a.GetIsAromatic() for a in mol.GetAtoms()) / heavy
    return (0.16 - 0.63 * Crippen.MolLogP(mol) - 0.0062 * Descriptors.MolWt(mol)
            + 0.066 * Lipinski.NumRotatableBonds(mol) - 0.74 * aromatic)  # fmt: skip


def _decorate(ring: str, rng: np.random.Generator) -> str:
    """``ring`` with up to three substituents on its first atoms that can take one."""
    from rdkit import Chem

    mol = Chem.RWMol(Chem.MolFromSmiles(ring))
    free = [a.GetIdx() for a in mol.GetAtoms() if a.GetTotalNumHs() > 0]
    for at in rng.choice(free, size=min(len(free), int(rng.integers(0, 4))), replace=False):
        group = Chem.MolFromSmiles(SUBSTITUENTS[int(rng.integers(len(SUBSTITUENTS)))])
        combined = Chem.RWMol(Chem.CombineMols(mol, group))
        combined.AddBond(int(at), mol.GetNumAtoms(), Chem.BondType.SINGLE)
        candidate = combined.GetMol()
        if Chem.SanitizeMol(candidate, catchErrors=True) == Chem.SanitizeFlags.SANITIZE_NONE:
            mol = Chem.RWMol(candidate)
    return Chem.MolToSmiles(mol)


def generated_molecules(n: int = 300, seed: int = 0, kind: str = "regression",
                        noise: float = 0.2) -> Any:  # fmt: skip
    """A MoleculeSet of ``n`` distinct generated molecules with an ESOL-like ``logS`` (or
    ``soluble`` 0/1 for ``kind="classification"``)."""
    from rdkit import Chem

    from layerwise.tasks.molecules.chemistry import require_rdkit
    from layerwise.tasks.molecules.molecule_set import MoleculeSet

    require_rdkit()
    from rdkit import rdBase

    quiet = rdBase.BlockLogs()  # the decorations RDKit refuses are expected: not worth a line
    rng = np.random.default_rng(seed)
    found: dict[str, Any] = {}
    for _ in range(50 * n):
        if len(found) >= n:
            break
        core = _decorate(RINGS[int(rng.integers(len(RINGS)))], rng)
        chain = CHAINS[int(rng.integers(len(CHAINS)))]
        mol = Chem.MolFromSmiles(chain + core if chain else core)
        if mol is None:  # a chain written before a core that starts with a bracket or a bond
            continue
        smiles = Chem.MolToSmiles(mol)
        if smiles not in found:
            found[smiles] = Chem.MolFromSmiles(smiles)
    del quiet
    smiles = list(found)
    mols = [found[s] for s in smiles]
    values = np.array([_esol(m) for m in mols]) + rng.normal(0, noise, len(mols))
    if kind == "classification":
        targets, names = (values >= np.median(values)).astype(float)[:, None], ["soluble"]
    else:
        targets, names = values[:, None], ["logS"]
    return MoleculeSet(smiles=smiles, mols=mols, targets=targets, target_names=names,
                       kind=kind, notes=[])  # fmt: skip
