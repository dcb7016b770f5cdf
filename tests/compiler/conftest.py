from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bundles"

CHILD = """\
resources:
  jobs:
    {key}:
      name: {key}
      parameters:
        - {{name: lakehook, default: ""}}
      tasks:
        - task_key: main
          notebook_task:
            notebook_path: ../src/{key}.py
"""


@pytest.fixture
def fixtures() -> Path:
    """The directory of the small bundles under tests/fixtures/bundles."""
    return FIXTURES


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Path]:
    """Write a bundle into tmp_path: ``make_bundle({"databricks.yml": "...", "bundles/x.yml": "..."})``.

    ``databricks.yml`` defaults to a bundle including bundles/*.yml; ``children=("work",)`` adds
    well-formed child jobs (declaring `lakehook`).
    """

    def make(files: dict[str, str], children: tuple[str, ...] = ()) -> Path:
        files = dict(files)
        files.setdefault("databricks.yml", "bundle: {name: t}\ninclude: [bundles/*.yml]\n")
        for key in children:
            files.setdefault(f"bundles/{key}.yml", CHILD.format(key=key))
        for rel, text in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return tmp_path

    return make


@pytest.fixture
def line_of() -> Callable[..., int]:
    """``line_of(path, needle, occurrence=1)``: the 1-based line where ``needle`` appears."""
    return _line_of


def _line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the ``occurrence``-th line containing ``needle`` in ``path``."""
    seen = 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return n
    raise AssertionError(f"{needle!r} not in {path}")
