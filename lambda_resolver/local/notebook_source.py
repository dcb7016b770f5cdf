"""Databricks notebooks as files: source-format ``.py`` and ``.ipynb``, split into cells.

A source-format notebook starts with ``# Databricks notebook source`` and separates cells with
``# COMMAND ----------``; a cell whose lines all start with ``# MAGIC`` is a magic cell
(``%md``, ``%sql``, ``%run``, ``%pip``, ``%sh``...). This module only parses and classifies; the
task runner decides what each magic does locally (see :data:`LOCAL_MAGICS`). It runs in the
child process, so it imports nothing beyond the standard library's light modules.
"""

from __future__ import annotations

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
MAGIC_PREFIX = "# MAGIC"
TITLE_PREFIX = "# DBTITLE"

#: What each magic does when lakehook runs a notebook locally.
LOCAL_MAGICS = {
    "python": "runs as Python",
    "md": "skipped (documentation)",
    "md-sandbox": "skipped (documentation)",
    "sql": "runs through spark.sql (needs spark)",
    "run": "runs the other notebook in the same namespace",
    "pip": "not run: a warning names what to install into the environment lakehook runs in",
}
SKIPPED_MAGICS = frozenset({"md", "md-sandbox"})


class NotebookFormatError(ValueError):
    """A notebook file lakehook cannot read (bad JSON, not a notebook...)."""


class UnsupportedMagicError(RuntimeError):
    """A cell uses a magic lakehook does not run locally (``%sh``, ``%fs``, ``%scala``, ``%r``...)."""


class Cell:
    """One cell. ``magic`` is None for Python, else the magic's name without ``%`` (``"sql"``).

    ``body`` is the cell's code without the ``# MAGIC`` prefixes and the magic word; ``line`` is
    the 1-based line of the file where ``body`` starts, so tracebacks point at the right line.
    ``args`` is what followed the magic word on its line (``%run ./other $x=1`` → ``./other $x=1``).
    """

    __slots__ = ("args", "body", "index", "line", "magic")

    def __init__(self, index: int, line: int, magic: str | None, body: str, args: str = "") -> None:
        self.index, self.line, self.magic, self.body, self.args = index, line, magic, body, args

    def __repr__(self) -> str:
        return f"Cell({self.index}, line={self.line}, magic={self.magic!r})"

    @property
    def label(self) -> str:
        return f"%{self.magic}" if self.magic else "Python"


def is_source_notebook(text: str) -> bool:
    """Whether ``text`` is a Databricks source-format Python notebook."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    return first.strip() == HEADER


def parse_source(text: str) -> list[Cell]:
    """The cells of a source-format notebook, in order (empty cells dropped)."""
    lines = text.lstrip("\ufeff").split("\n")
    cells: list[Cell] = []
    chunk: list[tuple[int, str]] = []  # (1-based line number, text)
    for number, raw in enumerate(lines[1:], start=2):
        if raw.rstrip() == SEPARATOR:
            _add_chunk(cells, chunk)
            chunk = []
        else:
            chunk.append((number, raw.rstrip("\r")))
    _add_chunk(cells, chunk)
    return cells


def _add_chunk(cells: list[Cell], chunk: list[tuple[int, str]]) -> None:
    content = [(n, t) for n, t in chunk if t.strip() and not t.startswith(TITLE_PREFIX)]
    if not content:
        return
    index = len(cells) + 1
    if not all(t.startswith(MAGIC_PREFIX) for _, t in content):
        first = content[0][0]
        body = "\n".join(t for n, t in chunk if n >= first)
        cells.append(Cell(index, first, None, body))
        return
    stripped = [(n, _unmagic(t)) for n, t in chunk if t.startswith(MAGIC_PREFIX)]
    cells.append(_magic_cell(index, stripped))


def _unmagic(line: str) -> str:
    rest = line[len(MAGIC_PREFIX) :]
    return rest[1:] if rest.startswith(" ") else rest


def _magic_cell(index: int, lines: list[tuple[int, str]]) -> Cell:
    """A cell from its (number, text) lines with the ``# MAGIC`` prefix already removed."""
    lines = [(n, t) for n, t in lines]
    while lines and not lines[0][1].strip():
        lines.pop(0)
    first_line, first = lines[0]
    head = first.lstrip()
    if not head.startswith("%"):
        return Cell(index, first_line, None, "\n".join(t for _, t in lines))
    word, _, args = head[1:].partition(" ")
    magic = word.strip().lower()
    if magic.startswith("%"):  # a cell magic (%%sql): same meaning here
        magic = magic.lstrip("%")
    rest = [t for _, t in lines[1:]]
    # The magic's own line becomes the rest of that line, so line numbers keep matching the file.
    body = "\n".join([args if magic == "python" else "", *rest])
    return Cell(index, first_line, magic, body, args.strip())


def parse_ipynb(text: str) -> list[Cell]:
    """The code cells of a Jupyter notebook (markdown cells become ``%md`` cells)."""
    import json

    try:
        doc = json.loads(text)
        raw_cells = doc["cells"]
    except (ValueError, KeyError, TypeError):
        raise NotebookFormatError("not a Jupyter notebook: no JSON 'cells' list") from None
    cells: list[Cell] = []
    for raw in raw_cells if isinstance(raw_cells, list) else []:
        source = raw.get("source", "") if isinstance(raw, dict) else ""
        body = "".join(source) if isinstance(source, list) else str(source)
        if not body.strip():
            continue
        index = len(cells) + 1
        if raw.get("cell_type") != "code":
            cells.append(Cell(index, 1, "md", body))
            continue
        numbered = list(enumerate(body.split("\n"), start=1))
        head = next((t for _, t in numbered if t.strip()), "").lstrip()
        if head.startswith("%"):
            cells.append(_magic_cell(index, numbered))
        else:
            cells.append(Cell(index, 1, None, body))
    return cells


def read_notebook(path: str) -> list[Cell] | None:
    """The cells of the notebook at ``path``; None when it is a plain Python file (a script)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".ipynb"):
        return parse_ipynb(text)
    if is_source_notebook(text):
        return parse_source(text)
    if text.lstrip().startswith("-- Databricks notebook source"):
        raise NotebookFormatError("SQL source-format notebooks are not run locally; use a Python notebook")
    return None


def check_cells(cells: list[Cell], name: str) -> None:
    """Fail before any cell runs when one uses a magic lakehook cannot run locally."""
    for cell in cells:
        if cell.magic is not None and cell.magic not in LOCAL_MAGICS:
            raise UnsupportedMagicError(
                f"cell {cell.index} of {name} uses %{cell.magic}, which lakehook does not run locally "
                f"(supported: {', '.join('%' + m for m in LOCAL_MAGICS)}); move that work into Python"
            )


def split_sql(text: str) -> list[str]:
    """The statements of a ``%sql`` cell: split at ``;`` outside quotes and ``--`` comments."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote is not None:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
            current.append(ch)
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif ch == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def pip_requirements(args: str) -> list[str]:
    """The requirements a ``%pip install ...`` line names (options such as ``-q`` dropped)."""
    import shlex

    words = shlex.split(args)
    if words and words[0] == "install":
        words = words[1:]
    out: list[str] = []
    skip_next = False
    for w in words:
        if skip_next:
            out.append(f"-r {w}")
            skip_next = False
        elif w in ("-r", "--requirement"):
            skip_next = True
        elif not w.startswith("-"):
            out.append(w)
    return out
