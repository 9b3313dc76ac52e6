"""The contracts every application builds on: Task, Candidate, the holdout machinery, the bake-off and the registry."""
