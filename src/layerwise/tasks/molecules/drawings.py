"""Molecules drawn for people: the best and worst test predictions, each atom's contribution
to a prediction coloured on the 2D structure, the forest's most important fingerprint bits as
the substructures they stand for, and the ensemble's spread against its errors.

Drawn with RDKit (its Cairo canvas; contributions with its similarity maps: green where an
atom raises the prediction, pink where it lowers it) and laid out in grids with Pillow.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = "drawings"
BEST_WORST = f"{FOLDER}/best_and_worst.png"
CONTRIBUTIONS = f"{FOLDER}/atom_contributions.png"
FOREST_BITS = f"{FOLDER}/forest_bits.png"
UNCERTAINTY = f"{FOLDER}/spread_vs_error.png"
SIDE = 300  # pixels a molecule
MAX_EXPLAINED = 20  # molecules `layerwise explain` draws at most


def grid_png(mols: list[Any], legends: list[str], per_row: int = 4,
             highlights: list[list[int]] | None = None) -> bytes:  # fmt: skip
    """One PNG of ``mols`` in a grid with a legend under each (and atoms highlighted)."""
    from rdkit.Chem.Draw import rdMolDraw2D

    rows = max(1, -(-len(mols) // per_row))
    cols = min(per_row, max(len(mols), 1))
    canvas = rdMolDraw2D.MolDraw2DCairo(cols * SIDE, rows * SIDE, SIDE, SIDE)
    canvas.drawOptions().legendFontSize = 16
    if highlights is None:
        canvas.DrawMolecules(mols, legends=legends)
    else:
        canvas.DrawMolecules(mols, legends=legends, highlightAtoms=highlights)
    canvas.FinishDrawing()
    return canvas.GetDrawingText()


def contribution_png(mol: Any, weights: np.ndarray, legend: str = "") -> bytes:
    """``mol`` with each atom coloured by its weight (RDKit's similarity map)."""
    from rdkit.Chem.Draw import SimilarityMaps, rdMolDraw2D

    canvas = rdMolDraw2D.MolDraw2DCairo(SIDE + 100, SIDE + 100)
    if legend:
        canvas.drawOptions().legendFontSize = 16
    weights = [float(w) for w in np.nan_to_num(np.asarray(weights, dtype=float))]
    if mol.GetNumAtoms() > 1 and np.ptp(weights) > 0:
        SimilarityMaps.GetSimilarityMapFromWeights(mol, weights, draw2d=canvas)
    else:  # one atom, or no atom stands out: the plain drawing
        canvas.DrawMolecule(mol, legend=legend)
    canvas.FinishDrawing()
    return canvas.GetDrawingText()


def tile(pngs: list[bytes], per_row: int = 3, captions: list[str] | None = None) -> bytes:
    """PNG images side by side in rows (captions written under each)."""
    from PIL import Image, ImageDraw

    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    w = max(im.width for im in images)
    h = max(im.height for im in images) + (22 if captions else 0)
    rows = -(-len(images) // per_row)
    sheet = Image.new("RGB", (w * min(per_row, len(images)), h * rows), "white")
    pen = ImageDraw.Draw(sheet)
    for i, im in enumerate(images):
        x, y = (i % per_row) * w, (i // per_row) * h
        sheet.paste(im, (x, y))
        if captions:
            pen.text((x + 8, y + h - 20), captions[i][:60], fill="black")
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _value(kind: str, value: float) -> str:
    """A measured or predicted value as shown: a class as 0/1, a probability or value to 0.01."""
    return f"{value:.0f}" if kind == "classification" and value in (0.0, 1.0) else f"{value:.2f}"


def write_drawings(task: Any, run: Any, parts: dict[str, Any], served: np.ndarray,
                   models: dict) -> None:  # fmt: skip
    """The run's drawings of the test molecules (first target): see the module doc."""
    test = parts["test"]
    y, p = test.targets[:, 0], served[:, 0]
    known = np.flatnonzero(np.isfinite(y) & np.isfinite(p))
    if len(known):
        error = np.abs(p[known] - y[known])
        order = known[np.argsort(error, kind="stable")]
        picks = list(order[:4]) + [i for i in order[::-1][:4] if i not in set(order[:4])]
        name = task.target_names[0]
        legends = [f"{'best' if k < 4 else 'worst'}: {name} {_value(task.kind, y[i])}, "
                   f"predicted {_value(task.kind, p[i])}" for k, i in enumerate(picks)]  # fmt: skip
        run.write_bytes(BEST_WORST, grid_png([test.mols[i] for i in picks], legends))
        explained = [i for i in order[:: max(1, len(order) // 6)]][:6]
        # the served model's contributions; a descriptor model has none: the network's then
        name = next((n for n in (task.chosen, "dmpnn", "ecfp-forest")
                     if hasattr(models.get(n), "atom_contributions")), None)  # fmt: skip
        if name is not None:
            pngs = _contributions(models[name], [test.mols[i] for i in explained])
            found = models[name].predict([test.mols[i] for i in explained])[:, 0]
            captions = [f"{name}: measured {_value(task.kind, y[i])}, predicted "
                        f"{_value(task.kind, f)}" for i, f in zip(explained, found, strict=True)]  # fmt: skip
            run.write_bytes(CONTRIBUTIONS, tile(pngs, 3, captions))
    forest = models.get("ecfp-forest")
    if forest is not None:
        bits = _forest_bits(forest, parts["train"])
        if bits is not None:
            run.write_bytes(FOREST_BITS, bits)


def _contributions(model: Any, mols: list[Any]) -> list[bytes]:
    """Each molecule drawn with its atoms' contributions to the first target, when the model
    can give them (the network and the fingerprint forest; descriptors are whole-molecule)."""
    if not hasattr(model, "atom_contributions"):
        return []
    return [contribution_png(m, model.atom_contributions(m)[:, 0]) for m in mols]


def _forest_bits(forest: Any, train: Any) -> bytes | None:
    """The forest's most important Morgan bits, each drawn in a training molecule that sets it
    (the bit's atom environment highlighted)."""
    from rdkit import Chem

    from layerwise.tasks.molecules.fingerprints import morgan_bit_atoms

    mols, legends, highlights = [], [], []
    for feature in forest.important_features(8):
        example = feature.get("example")
        if example is None or not 0 <= int(example) < len(train.mols):
            continue
        mol = Chem.Mol(train.mols[int(example)])  # a copy: one molecule may stand for two bits
        places = morgan_bit_atoms(mol, int(feature["bit"]), int(forest.params["radius"]),
                                  int(forest.params["bits"]))  # fmt: skip
        if not places:
            continue
        mols.append(mol)
        legends.append(f"bit {feature['bit']}: {places[0].smiles[:30]} "
                       f"({100 * feature['importance']:.1f}%)")  # fmt: skip
        highlights.append(sorted({a for place in places for a in place.atoms}))
    if not mols:
        return None
    return grid_png(mols, legends, 4, highlights)


def explain_molecules(task: Any, data: Any, out_dir: Path, prefix: str = "") -> list[Path]:
    """``layerwise explain``: each molecule of ``data`` (a SMILES, a list, a file; at most
    ``MAX_EXPLAINED``) drawn with its atoms' contributions, one PNG each."""
    from layerwise.errors import DataError
    from layerwise.io import atomic_write
    from layerwise.tasks.molecules.inputs import input_molecules

    if not hasattr(task.model, "atom_contributions"):
        raise DataError(f"The served model ({task.chosen}) sees whole-molecule descriptors, so "
                        "it has no per-atom contributions to draw.",
                        "Train with the network or the fingerprint forest among the "
                        "candidates to explain single atoms.")  # fmt: skip
    given, mols, _ = input_molecules(data, task.option("smiles_column"),
                                     bool(task.option("largest_fragment")))  # fmt: skip
    if len(mols) > MAX_EXPLAINED:
        given, mols = given[:MAX_EXPLAINED], mols[:MAX_EXPLAINED]
    values = task.model.predict(mols)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, mol in enumerate(mols):
        weights = task.model.atom_contributions(mol)[:, 0]
        png = contribution_png(mol, weights)
        caption = f"{given[i][:50]}: {task.target_names[0]} {values[i, 0]:.2f}"
        path = out_dir / f"{prefix}molecule_{i + 1}.png"
        data_png = tile([png], 1, [caption])
        atomic_write(path, lambda p, d=data_png: p.write_bytes(d))
        written.append(path)
    return written
