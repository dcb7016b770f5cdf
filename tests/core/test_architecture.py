"""State transitions are decided in one place: the machines decide, ``core/transitions`` writes.

These checks read the source of ``lambda_resolver`` (its syntax tree, not its text):
- only ``core/transitions.py`` calls the store's write methods for promises, tasks and runs;
- every condition of those writes (``expect_state(s)=``) is asked of the machines, never spelled
  out as a list of states.
The writer's field setters refuse a ``state`` among their changes (tests/core/test_transitions.py),
so a state reaches a store only through a move the machines allow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import lambda_resolver

PACKAGE = Path(lambda_resolver.__file__).parent
MACHINES = {"core/promise_machine.py", "core/task_machine.py"}
WRITER = "core/transitions.py"
STORE_WRITES = {
    "update_promise",
    "update_task",
    "update_run",
    "create_promise",
    "create_run",
    "deliver_edge",
    "complete_propagation",
    "begin_repair",
    "reset_task",
    "put_schedule",
    "claim_task",
    "update_attempt",
    "deliver_and_claim",
    "create_loop",
    "claim_iteration",
    "finish_iteration",
    "stop_loop",
}
CONDITIONS = {"expect_state", "expect_states", "expect_promise"}
STATE_TYPES = {"TaskState", "PromiseState", "RunState", "T", "R"}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("stores/") or rel == "core/store.py":
            continue  # the stores implement the writes
        yield rel, ast.parse(path.read_text(), filename=rel)


def _where(rel: str, node: ast.AST) -> str:
    return f"{rel}:{getattr(node, 'lineno', '?')} {ast.unparse(node)[:90]}"


def _spells_states(value: ast.expr) -> bool:
    """A condition written by hand: a state literal, a collection of them, or a named state set."""
    for node in ast.walk(value):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in STATE_TYPES
        ):
            return True
        if isinstance(node, ast.Name) and node.id.endswith("_STATES"):
            return True
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return True
    return False


def _asks_machines(value: ast.expr) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and isinstance(value.func.value, ast.Name)
        and value.func.value.id in {"pm", "tm"}
    ) or (isinstance(value, ast.Constant) and value.value is None)


def test_only_the_transitions_module_writes_state() -> None:
    offenders = [
        _where(rel, node)
        for rel, tree in _modules()
        if rel != WRITER
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in STORE_WRITES
        and "store" in ast.unparse(node.func.value)
    ]
    assert offenders == [], "store writes outside core/transitions.py:\n" + "\n".join(offenders)


def test_every_write_condition_comes_from_the_machines() -> None:
    offenders = []
    for rel, tree in _modules():
        if rel in MACHINES:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg not in CONDITIONS:
                    continue
                hand_written = _spells_states(kw.value)
                if hand_written or (rel == WRITER and not _asks_machines(kw.value)):
                    offenders.append(_where(rel, kw.value) + f"  (in {ast.unparse(node.func)})")
    assert offenders == [], "write conditions not taken from the machines:\n" + "\n".join(offenders)


def test_the_writer_takes_its_conditions_from_the_machines_only() -> None:
    """The rule above has teeth: a writer that spells a state list by hand is caught."""
    bad = ast.parse("store.update_task(r, k, c, expect_states=(T.WAITING,))").body[0]
    assert isinstance(bad, ast.Expr) and isinstance(bad.value, ast.Call)
    kw = bad.value.keywords[0]
    assert _spells_states(kw.value) and not _asks_machines(kw.value)
    good = ast.parse("store.update_task(r, k, c, expect_states=tm.sources_of(target))").body[0]
    assert isinstance(good, ast.Expr) and isinstance(good.value, ast.Call)
    assert _asks_machines(good.value.keywords[0].value)
