"""lakehook's resolver: durable promises and flows of Databricks jobs driven by callbacks.

The domain core lives in :mod:`lambda_resolver.core`; stores, the HTTP edge, the Databricks
launcher, the CLI and the local stack are adapters around it. Nothing here does work at import.
"""

from __future__ import annotations

__version__ = "0.1.0"
