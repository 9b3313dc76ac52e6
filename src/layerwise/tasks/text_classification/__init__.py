"""The text classification application: its task, readers, candidates, outputs and report."""
