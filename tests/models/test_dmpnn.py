"""The D-MPNN: the same molecule in any atom order gives the same output, a batch gives what the
molecules give one by one, a molecule of one atom works, and leaving an atom out of the readout
is the same as a readout without it."""

import pytest
import torch

from layerwise.errors import ConfigError
from layerwise.models.dmpnn import DMPNN, DMPNNConfig

Chem = pytest.importorskip("rdkit.Chem")
from layerwise.tasks.molecules.graphs import ATOM_DIM, BOND_DIM, batch_graphs, mol_graph  # noqa: E402

SMILES = ["CC(=O)Oc1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "c1ccncc1Cl", "[Na+]", "C"]


def _net(aggregation: str = "norm", extra_dim: int = 0, seed: int = 0) -> DMPNN:
    torch.manual_seed(seed)
    config = DMPNNConfig(ATOM_DIM, BOND_DIM, n_tasks=2, hidden=32, ffn_hidden=16,
                         aggregation=aggregation, extra_dim=extra_dim)  # fmt: skip
    return DMPNN(config).eval().double()


def _run(net: DMPNN, mols: list, extra: torch.Tensor | None = None) -> torch.Tensor:
    atoms, bonds, src, dst, rev, atom_mol, n = batch_graphs([mol_graph(m) for m in mols])
    with torch.no_grad():
        return net(atoms.double(), bonds.double(), src, dst, rev, atom_mol, n, extra)


@pytest.mark.parametrize("aggregation", ["mean", "sum", "norm"])
def test_atom_order_does_not_matter(aggregation):
    net = _net(aggregation)
    mol = Chem.MolFromSmiles(SMILES[0])
    order = list(reversed(range(mol.GetNumAtoms())))
    order[0], order[3] = order[3], order[0]
    shuffled = Chem.RenumberAtoms(mol, order)
    assert Chem.MolToSmiles(shuffled) == Chem.MolToSmiles(mol)
    torch.testing.assert_close(_run(net, [shuffled]), _run(net, [mol]))


def test_a_batch_equals_the_molecules_one_by_one():
    net = _net("mean", extra_dim=3)
    mols = [Chem.MolFromSmiles(s) for s in SMILES]
    extra = torch.rand(len(mols), 3, dtype=torch.float64)
    together = _run(net, mols, extra)
    apart = torch.cat([_run(net, [m], extra[i : i + 1]) for i, m in enumerate(mols)])
    assert together.shape == (len(mols), 2)
    torch.testing.assert_close(together, apart)


def test_one_atom_molecule_and_occlusion():
    net = _net("sum")
    one = mol_graph(Chem.MolFromSmiles("[Na+]"))
    assert one.bonds.shape == (0, BOND_DIM) and one.src.shape == (0,)
    assert torch.isfinite(_run(net, [Chem.MolFromSmiles("[Na+]")])).all()
    # row v of occluded(): the molecule's readout with atom v's vector left out
    mol = Chem.MolFromSmiles("OCC")
    atoms, bonds, src, dst, rev, atom_mol, _ = batch_graphs([mol_graph(mol)])
    with torch.no_grad():
        full, without = net.occluded(atoms.double(), bonds.double(), src, dst, rev)
        atom_h = net.atom_vectors(atoms.double(), bonds.double(), src, dst, rev)
        keep = torch.tensor([0, 2])
        by_hand = net.head(atom_h[keep].sum(0, keepdim=True))
    torch.testing.assert_close(full, _run(net, [mol]))
    torch.testing.assert_close(without[1:2], by_hand)


def test_config_round_trip_and_checks():
    config = DMPNNConfig(ATOM_DIM, BOND_DIM, n_tasks=3, depth=4)
    assert DMPNNConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="aggregation"):
        DMPNNConfig(ATOM_DIM, BOND_DIM, n_tasks=1, aggregation="max")
    with pytest.raises(ConfigError, match="depth"):
        DMPNNConfig(ATOM_DIM, BOND_DIM, n_tasks=1, depth=0)
