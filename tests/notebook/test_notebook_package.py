"""The package's shape: pinned public names, a near-free import, Python 3.10 syntax."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import notebook_lib

PACKAGE_DIR = Path(notebook_lib.__file__).parent


def test_the_public_names_are_exactly_these() -> None:
    assert sorted(notebook_lib.__all__) == [
        "AlreadySettledError",
        "CallbackRejected",
        "DeliveryError",
        "Handle",
        "LakehookError",
        "Step",
        "ValueTooLargeError",
        "decode_handle",
        "encode_handle",
        "heartbeat",
        "notify_done",
        "notify_failed",
        "step",
    ]
    for name in notebook_lib.__all__:
        assert getattr(notebook_lib, name) is not None


def test_every_error_is_a_lakehook_error_and_too_large_is_also_a_value_error() -> None:
    for name in ("AlreadySettledError", "CallbackRejected", "DeliveryError", "ValueTooLargeError"):
        assert issubclass(getattr(notebook_lib, name), notebook_lib.LakehookError)
    assert issubclass(notebook_lib.ValueTooLargeError, ValueError)


def test_importing_the_package_loads_only_its_own_modules(run_python: Any) -> None:
    out = run_python(
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import notebook_lib, notebook_lib.handle\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    loaded = json.loads(out)
    foreign = [m for m in loaded if not m.startswith("notebook_lib") and m not in {"__future__", "math"}]
    assert foreign == []


def test_importing_the_package_imports_neither_requests_nor_typing_nor_logging(run_python: Any) -> None:
    out = run_python(
        "import sys\nimport notebook_lib\n"
        "print(sorted(m for m in ('requests', 'typing', 'logging', 'json', 'dataclasses', "
        "'databricks', 'numpy', 'pandas') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_every_module_parses_as_python_3_10() -> None:
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        source = path.read_text()
        ast.parse(source, filename=str(path), feature_version=(3, 10))
        for banned in ("StrEnum", "typing.Self", "except*", "import tomllib"):
            assert banned not in source, f"{path.name} uses {banned}, which needs Python 3.11"


def test_every_public_seam_has_a_docstring() -> None:
    for name in notebook_lib.__all__:
        assert getattr(notebook_lib, name).__doc__, name
    assert notebook_lib.__doc__
