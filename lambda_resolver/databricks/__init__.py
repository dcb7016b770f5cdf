"""The Databricks side of the resolver: the launcher on databricks-sdk.

Importing this package does not import databricks-sdk (~2 s); the launcher imports it on
first use. Nor does it import the launcher's module: its names are loaded when first asked for
(``lazy.LazySdkLauncher``, the Lambda's, needs none of them until it is used).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SdkLauncher", "credentials_from_secret"]


def __getattr__(name: str) -> Any:
    if name == "credentials_from_secret":
        from lambda_resolver.databricks.credentials import credentials_from_secret

        return credentials_from_secret
    if name == "SdkLauncher":
        from lambda_resolver.databricks.launcher import SdkLauncher

        return SdkLauncher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
