"""A script that fails at once (for run_if tests)."""

raise RuntimeError("extract failed")
