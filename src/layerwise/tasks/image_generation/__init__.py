"""The image generation application: its task, readers, candidates, outputs and report."""
