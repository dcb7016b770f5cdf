"""The Databricks side of the resolver: the launcher on databricks-sdk.

Importing this package does not import databricks-sdk (~2 s); the launcher imports it on
first use.
"""

from __future__ import annotations

from lambda_resolver.databricks.launcher import SdkLauncher, credentials_from_secret

__all__ = ["SdkLauncher", "credentials_from_secret"]
