"""The anomaly detection application: its task, readers, candidates, outputs and report."""
