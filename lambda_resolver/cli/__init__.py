"""The ``lakehook`` command line (DESIGN §8). Exit codes: 0 success, 1 the run failed,
2 usage or validation errors."""

from __future__ import annotations

from lambda_resolver.cli.app import app, main

__all__ = ["app", "main"]
