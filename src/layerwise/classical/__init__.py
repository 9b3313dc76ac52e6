"""The traditional-ML side: the baselines every run trains beside its deep model."""
