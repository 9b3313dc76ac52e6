"""The tabular application: its task, readers, candidates, outputs and report."""
