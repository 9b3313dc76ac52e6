"""The run folder: the artifact every command reads and writes."""

from layerwise.runs.folder import RunFolder

__all__ = ["RunFolder"]
