"""The forecasting application: its task, readers, candidates, outputs and report."""
