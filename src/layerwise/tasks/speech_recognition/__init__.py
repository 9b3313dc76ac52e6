"""The speech recognition application: its task, readers, candidates, outputs and report."""
