"""The image classification application: its task, readers, candidates, outputs and report."""
