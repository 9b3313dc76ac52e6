"""RDKit in one place: parsing SMILES, canonical forms, the largest fragment, scaffolds.

Every other module of the application goes through here, so that RDKit is imported only when
needed (a clear ConfigError when it is missing), never prints to the terminal, and an invalid
SMILES always comes back as one short sentence saying what is wrong and where: RDKit's own
parse errors give a position in the text ("check for mistakes around position 7"), its
sanitisation errors an atom index, which is turned into the atom's position in the text.

Positions are counted from 1, in characters of the text as given; atoms are counted from 1 in
the order they are written in the SMILES (RDKit's atom index plus one).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from layerwise.errors import ConfigError

MAX_SMILES_LENGTH = 2000
_INSTALL = 'pip install "layerwise[molecules]"'
# atoms and ring-bond labels of a SMILES, to turn RDKit's atom indices into text positions
_TOKEN = re.compile(r"\[[^\]]*\]|Cl|Br|[BCNOPSFIbcnops*]|%\(\d+\)|%\d\d|\d|.", re.S)
_POSITION = re.compile(r"position (\d+)")
_SELF_RING = re.compile(r"duplicated ring closure (\d+) bonds atom (\d+) to itself")
_VALENCE = re.compile(r"atom # ?(\d+) (\w+), (\d+), is greater")


@dataclass
class Parsed:
    """One parsed SMILES.

    Attributes:
        mol: the RDKit molecule (sanitised; the largest fragment when asked), or None.
        smiles: its canonical isomeric SMILES, or None when the text could not be read.
        problem: why it could not be read (one short sentence), or None.
        stripped: True when smaller fragments (salts, solvents) were removed.
        position: where in the text the problem is (1-based), when RDKit can tell.
    """

    mol: Any = None
    smiles: str | None = None
    problem: str | None = None
    stripped: bool = False
    position: int | None = None

    @property
    def ok(self) -> bool:
        return self.mol is not None


def require_rdkit() -> Any:
    """``rdkit.Chem``, or a ConfigError saying how to install RDKit.

    Example:
        >>> require_rdkit().MolFromSmiles("CCO").GetNumAtoms()
        3
    """
    try:
        from rdkit import Chem
    except ImportError as exc:
        raise ConfigError(
            "RDKit is not installed; the molecular-property task needs it to read molecules.",
            f"Run: {_INSTALL}",
        ) from exc
    return Chem


def parse_smiles(text: Any, largest_fragment: bool = True) -> Parsed:
    """Parse and sanitise one SMILES (untrusted text) without printing anything.

    Args:
        text: the SMILES; anything that is not a string gets a problem, never an exception.
        largest_fragment: keep only the fragment with the most heavy atoms (the first of
            equals), dropping salts and solvents; ``stripped`` says whether anything went.

    Returns:
        A :class:`Parsed`: the molecule and its canonical SMILES (stereo kept), or the problem.

    Example:
        >>> parse_smiles("OCC.Cl").smiles, parse_smiles("OCC.Cl").stripped
        ('CCO', True)
        >>> parse_smiles("CC(C").problem
        'an opening parenthesis is not closed at position 3'
        >>> parse_smiles("CN(C)(C)C").problem
        'atom 2 (N at position 2) has a valence of 4, more than N allows'
    """
    Chem = require_rdkit()
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return Parsed(problem="empty text")
    if not isinstance(text, str):
        return Parsed(problem=f"not text but a {type(text).__name__} ({str(text)[:40]!r})")
    body = text.strip()
    offset = len(text) - len(text.lstrip())
    if not body:
        return Parsed(problem="empty text")
    if len(body) > MAX_SMILES_LENGTH:
        return Parsed(problem=f"longer than {MAX_SMILES_LENGTH:,} characters ({len(body):,})")
    space = re.search(r"\s", body)
    if space:
        where = offset + space.start() + 1
        return Parsed(problem=f"contains a space at position {where} (a SMILES has none)",
                      position=where)  # fmt: skip
    from rdkit import rdBase

    with rdBase.BlockLogs():  # warnings too: nothing reaches the terminal
        capture = _capture_errors()
        with capture:
            mol = Chem.MolFromSmiles(body)
    if mol is None:
        problem, position = _describe(body, str(getattr(capture, "messages", "") or ""))
        if position is not None and offset:  # positions in the text as given
            problem = problem.replace(f"position {position}", f"position {position + offset}")
            position += offset
        return Parsed(problem=problem, position=position)
    return parse_mol(mol, largest_fragment)


def parse_mol(mol: Any, largest_fragment: bool = True) -> Parsed:
    """The :class:`Parsed` of a sanitised RDKit molecule (e.g. from an SDF file).

    Example:
        >>> parse_mol(require_rdkit().MolFromSmiles("[Na+].CC(=O)[O-]")).smiles
        'CC(=O)[O-]'
    """
    Chem = require_rdkit()
    if mol is None or mol.GetNumAtoms() == 0:
        return Parsed(problem="no atoms")
    stripped = False
    if largest_fragment:
        fragments = Chem.GetMolFrags(mol, asMols=True)
        if len(fragments) > 1:
            sizes = [f.GetNumHeavyAtoms() for f in fragments]
            mol = fragments[sizes.index(max(sizes))]
            stripped = True
    return Parsed(mol=mol, smiles=Chem.MolToSmiles(mol), stripped=stripped)


def canonical_smiles(text: Any, largest_fragment: bool = True) -> str | None:
    """The canonical SMILES of ``text``, or None when it cannot be read.

    Example:
        >>> canonical_smiles("C(O)C") == canonical_smiles("OCC")
        True
    """
    return parse_smiles(text, largest_fragment).smiles


def murcko_scaffold(mol: Any) -> str:
    """The Bemis-Murcko scaffold of ``mol`` as SMILES, without chirality ("" when acyclic).

    Example:
        >>> Chem = require_rdkit()
        >>> murcko_scaffold(Chem.MolFromSmiles("CCc1ccccc1C(=O)O")), murcko_scaffold(Chem.MolFromSmiles("CCO"))
        ('c1ccccc1', '')
    """
    require_rdkit()
    from rdkit import rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    with rdBase.BlockLogs():
        return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def _capture_errors() -> Any:
    """RDKit's error log captured (RDKit >= 2025), else a context that captures nothing."""
    from contextlib import nullcontext

    from rdkit import rdBase

    capture = getattr(rdBase, "CaptureErrorLog", None)
    return capture() if capture is not None else nullcontext()


def _describe(body: str, messages: str) -> tuple[str, int | None]:
    """(the problem, its 1-based position or None) of a SMILES that RDKit refused."""
    lines = [re.sub(r"^\[[\d:]+\]\s*", "", line).strip() for line in messages.splitlines()]
    lines = [line.removeprefix("SMILES Parse Error:").strip() for line in lines if line]
    found = next((m for m in map(_POSITION.search, lines) if m), None)
    position = int(found.group(1)) if found else None
    text = " ".join(lines).lower()
    if "unclosed ring" in text or (not lines and _open_rings(body)):
        rings = _open_rings(body)
        if len(rings) == 1:
            label, where = rings[0]
            return f"unclosed ring {label} (opened at position {where})", where
        if rings:
            labels, where = ", ".join(label for label, _ in rings), rings[0][1]
            return f"unclosed rings {labels} (the first opened at position {where})", where
        return "unclosed ring", None
    itself = _SELF_RING.search(" ".join(lines))
    if itself:
        atoms = _atom_positions(body, None)
        index = int(itself.group(2))
        where = atoms[index] if atoms and index < len(atoms) else None
        return f"ring bond {itself.group(1)} joins atom {index + 1} to itself", where
    if "extra open parenthes" in text:
        return _at("an opening parenthesis is not closed", position)
    if "extra close parenthes" in text:
        return _at("a closing parenthesis has no opening one", position)
    chemistry = _chemistry_problem(body)
    if chemistry is not None:
        return chemistry
    if "syntax error" in text or position is not None or not lines:
        return _at("syntax error", position)
    first = re.sub(r"\s+(for input|while parsing):.*$", "", lines[0])
    return first[:120].rstrip(". "), position


def _at(what: str, position: int | None) -> tuple[str, int | None]:
    return (f"{what} at position {position}" if position else what), position


def _chemistry_problem(body: str) -> tuple[str, int | None] | None:
    """A sanitisation problem (valence, aromaticity) found by parsing without sanitising."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        raw = Chem.MolFromSmiles(body, sanitize=False)
        if raw is None:
            return None
        problems = list(Chem.DetectChemistryProblems(raw))
    if not problems:
        return None
    atoms = _atom_positions(body, raw.GetNumAtoms())
    problem = problems[0]
    kind = problem.GetType()
    if kind == "KekulizeException":
        indices = list(problem.GetAtomIndices())
        where = atoms[indices[0]] if atoms and indices else None
        shown = ", ".join(str(i + 1) for i in indices[:8]) + (" ..." if len(indices) > 8 else "")
        text = f"cannot kekulize the aromatic atoms {shown}"
        text += f" (from position {where})" if where else ""
        if any(raw.GetAtomWithIdx(i).GetSymbol() == "N" for i in indices):
            text += ": an aromatic n may need its hydrogen written as [nH]"
        return text, where
    if hasattr(problem, "GetAtomIdx"):
        index = problem.GetAtomIdx()
        symbol = raw.GetAtomWithIdx(index).GetSymbol()
        where = atoms[index] if atoms else None
        at = f"{symbol} at position {where}" if where else symbol
        match = _VALENCE.search(problem.Message())
        if "valence" in problem.Message().lower():
            valence = f" of {match.group(3)}" if match else ""
            return (
                f"atom {index + 1} ({at}) has a valence{valence}, more than {symbol} allows",
                where,
            )
        return f"atom {index + 1} ({at}): {problem.Message()[:100]}", where
    return problem.Message()[:120], None


def _atom_positions(body: str, n_atoms: int | None) -> list[int] | None:
    """The 1-based text position of each atom, or None when the count does not match RDKit's
    (``n_atoms`` None: no check)."""
    positions = [m.start() + 1 for m in _TOKEN.finditer(body) if _is_atom(m.group())]
    return positions if n_atoms is None or len(positions) == n_atoms else None


def _is_atom(token: str) -> bool:
    return token.startswith("[") or token.isalpha() or token == "*"


def _open_rings(body: str) -> list[tuple[str, int]]:
    """Ring-bond labels opened and never closed, with the position where each was opened."""
    opened: dict[str, int] = {}
    for m in _TOKEN.finditer(body):
        token = m.group()
        if token.isdigit() or token.startswith("%"):
            label = token.strip("%()")
            label = str(int(label))
            if label in opened:
                del opened[label]
            else:
                opened[label] = m.start() + 1
    return sorted(opened.items(), key=lambda item: item[1])


def sdf_records(path: Any, limit: int) -> Any:
    """The records of an SDF file: ``(molecule or None, SD properties, problem or None)``.

    Args:
        path: the ``.sdf`` file.
        limit: read at most this many records (one more is read, so the caller sees that the
            file holds more).

    Yields:
        One tuple per record; ``"_Name"`` in the properties holds the record's title line.
    """
    Chem = require_rdkit()
    from rdkit import rdBase

    with rdBase.BlockLogs(), open(path, "rb") as handle:
        supplier = Chem.ForwardSDMolSupplier(handle, sanitize=True, removeHs=True)
        for _ in range(limit + 1):
            capture = _capture_errors()
            with capture:
                try:
                    mol = next(supplier)
                except StopIteration:
                    return
            if mol is None:
                yield None, {}, _sdf_problem(str(getattr(capture, "messages", "") or ""))
                continue
            props = mol.GetPropsAsDict(includePrivate=False, includeComputed=False)
            props["_Name"] = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
            yield mol, props, None


def _sdf_problem(messages: str) -> str:
    lines = [re.sub(r"^\[[\d:]+\]\s*(ERROR:\s*)?", "", x).strip() for x in messages.splitlines()]
    lines = [x for x in lines if x and not x.startswith("moving to the beginning")]
    if not lines:
        return "RDKit could not read this record"
    valence = _VALENCE.search(lines[0])
    if valence:
        atom, symbol, value = valence.groups()
        return (
            f"atom {int(atom) + 1} ({symbol}) has a valence of {value}, more than {symbol} allows"
        )
    return lines[0][:120].rstrip(". ")
