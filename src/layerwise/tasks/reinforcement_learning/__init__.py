"""The reinforcement learning application: its task, readers, candidates, outputs and report."""
