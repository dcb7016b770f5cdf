"""Databricks source-format notebooks split into cells, with their magics recognised."""

from __future__ import annotations

import json

import pytest

from lambda_resolver.local.notebook_source import (
    NotebookFormatError,
    UnsupportedMagicError,
    check_cells,
    is_source_notebook,
    parse_ipynb,
    parse_source,
    pip_requirements,
    split_sql,
)

SOURCE = """# Databricks notebook source
# MAGIC %md
# MAGIC # Title

# COMMAND ----------

# DBTITLE 1,Load
x = 1
y = x + 1

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT * FROM t
# MAGIC WHERE a = ';'; SELECT 2

# COMMAND ----------

# MAGIC %run ./helpers/shared $who="a b"

# COMMAND ----------

# COMMAND ----------

# MAGIC %python
# MAGIC z = 3
"""


def test_cells_are_split_at_command_lines_and_empty_cells_dropped() -> None:
    cells = parse_source(SOURCE)
    assert [(c.index, c.magic) for c in cells] == [
        (1, "md"),
        (2, None),
        (3, "sql"),
        (4, "run"),
        (5, "python"),
    ]


def test_a_python_cell_keeps_its_file_line_numbers() -> None:
    cell = parse_source(SOURCE)[1]
    assert cell.line == 8  # `x = 1`: the DBTITLE line above it is not code
    assert SOURCE.split("\n")[cell.line - 1 :][:2] == cell.body.split("\n")[:2] == ["x = 1", "y = x + 1"]


def test_a_magic_cell_has_its_prefix_and_magic_word_removed() -> None:
    sql, run, python = parse_source(SOURCE)[2:]
    assert sql.body == "\nSELECT * FROM t\nWHERE a = ';'; SELECT 2"
    assert run.args == './helpers/shared $who="a b"'
    compiled = compile("\n" * (python.line - 1) + python.body, "nb.py", "exec")
    ns: dict[str, object] = {}
    exec(compiled, ns)  # noqa: S102
    assert ns["z"] == 3


def test_only_the_header_makes_a_source_notebook() -> None:
    assert is_source_notebook("\ufeff# Databricks notebook source\nx = 1\n")
    assert not is_source_notebook("import os\n# Databricks notebook source\n")


@pytest.mark.parametrize("magic", ["sh", "fs", "scala", "r", "lsmagic"])
def test_magics_that_do_not_run_locally_are_named_with_their_cell(magic: str) -> None:
    cells = parse_source(f"# Databricks notebook source\nx = 1\n# COMMAND ----------\n# MAGIC %{magic} a b\n")
    with pytest.raises(
        UnsupportedMagicError, match=rf"cell 2 of nb.py uses %{magic}, which lakehook does not run"
    ):
        check_cells(cells, "nb.py")


def test_sql_statements_split_outside_quotes_and_comments() -> None:
    text = "SELECT 'a;b' AS x; -- a comment; with a semicolon\nSELECT \"c;\" ;\n\n;"
    assert split_sql(text) == ["SELECT 'a;b' AS x", 'SELECT "c;"']


def test_pip_requirements_drop_options_and_keep_requirement_files() -> None:
    assert pip_requirements("install -q pandas==2.0 'x[y]>=1' -r req.txt") == [
        "pandas==2.0",
        "x[y]>=1",
        "-r req.txt",
    ]


def test_ipynb_code_cells_run_and_markdown_is_skipped() -> None:
    doc = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Title"]},
            {"cell_type": "code", "source": ["x = 1\n", "y = 2"]},
            {"cell_type": "code", "source": "%sql\nSELECT 1"},
        ]
    }
    cells = parse_ipynb(json.dumps(doc))
    assert [(c.magic, c.body) for c in cells] == [
        ("md", "# Title"),
        (None, "x = 1\ny = 2"),
        ("sql", "\nSELECT 1"),
    ]
    with pytest.raises(NotebookFormatError):
        parse_ipynb("[]")
