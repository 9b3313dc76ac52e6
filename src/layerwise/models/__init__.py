"""Architectures: one plain ``torch.nn.Module`` per file, each with a dataclass config."""
