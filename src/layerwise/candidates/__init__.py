"""Candidates used by three or more applications (the linear baseline, the small image CNN)."""
