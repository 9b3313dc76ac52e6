"""The language generation application: its task, readers, candidates, outputs and report."""
