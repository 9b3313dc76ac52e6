"""The recommendation application: its task, readers, candidates, outputs and report."""
