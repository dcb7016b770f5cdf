"""A plain script (no notebook header) run as a notebook task: prints what its process sees."""

import json
import os
import sys

print(
    "probe:",
    json.dumps(
        {
            "LAKEHOOK": os.environ.get("LAKEHOOK"),
            "DATABRICKS_RUNTIME_VERSION": os.environ.get("DATABRICKS_RUNTIME_VERSION"),
            "EXTRA": os.environ.get("EXTRA"),
            "cwd": os.getcwd(),
            "sys_path": sys.path[:4],
            "widget": dbutils.widgets.get("who"),  # noqa: F821 - the runtime's global
            "executable": sys.executable,
        }
    ),
)
