"""``python -m lambda_resolver.cli`` runs the ``lakehook`` command."""

from __future__ import annotations

from lambda_resolver.cli.app import main

main()
