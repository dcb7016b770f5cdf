"""How runs look in a terminal: a live tree of tasks with states and timings, a summary table,
and what a person should do next (approve a waiting gate, read a failed task's log).

Values and errors are cut to the terminal's width (rich crops them with an ellipsis), never to a
fixed length; a ready-to-paste command is never cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

ICONS = {
    "WAITING": ("·", "dim"),
    "TRIGGERING": ("↗", "cyan"),
    "RUNNING": ("▶", "bold cyan"),
    "RETRY_WAIT": ("↻", "yellow"),
    "SUCCESS": ("✓", "green"),
    "FAILED": ("✗", "red"),
    "TIMEDOUT": ("⏱", "red"),
    "CANCELED": ("■", "magenta"),
    "UPSTREAM_FAILED": ("✗", "dim red"),
    "UPSTREAM_CANCELED": ("■", "dim magenta"),
    "EXCLUDED": ("⊘", "dim"),
}
RUN_STYLES = {
    "SUCCESS": "green",
    "SUCCESS_WITH_FAILURES": "yellow",
    "FAILED": "red",
    "CANCELED": "magenta",
    "TIMEDOUT": "red",
    "RUNNING": "cyan",
    "PENDING": "dim",
}
APPROVAL = "WAITING FOR APPROVAL"
_LOCAL_LOG = re.compile(r"\(log: ([^()]+\.log)\)$")
FAILED_TASK_STATES = frozenset({"FAILED", "TIMEDOUT"})


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def duration(task: dict[str, Any], now: datetime | None = None) -> str:
    start, end = _ts(task.get("triggered_at")), _ts(task.get("settled_at"))
    if start is None:
        return ""
    end = end or now
    if end is None:
        return ""
    seconds = max(0.0, (end - start).total_seconds())
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def show_value(value: Any) -> str:
    """A value as one line of JSON (a string as itself); never a Python repr."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return " ".join(text.split())


def iteration_counts(task: dict[str, Any]) -> str:
    """A for_each task's iterations on one line: ``7/10 done · SUCCESS 6 · FAILED 1 · RUNNING 2``
    (empty for other tasks)."""
    counts = task.get("iterations")
    if not counts:
        return ""
    total = counts.get("total", 0)
    done = sum(n for state, n in counts.items() if state not in ("total", "PENDING", "RUNNING"))
    parts = [f"{state} {n}" for state, n in counts.items() if state != "total"]
    return " · ".join([f"{done}/{total} iterations done", *parts]) + "  "


def error_message(task: dict[str, Any]) -> str:
    error = task.get("error") or {}
    return " ".join(str(error.get("message") or error.get("type") or "").split())


def _state_label(task: dict[str, Any], waiting: Collection[str]) -> tuple[str, str]:
    if task["task_key"] in waiting:
        return APPROVAL, "bold yellow"
    return task["state"], ICONS.get(task["state"], ("?", ""))[1]


def run_tree(
    doc: dict[str, Any],
    now: datetime | None = None,
    waiting: Collection[str] = (),
    hints: dict[str, str] | None = None,
) -> Group:
    """The run as a tree: the run, then each task with its state, attempt, timing and value; a
    task waiting for approval reads so, with its ``hints`` line (the resolve command) under it."""
    state = doc.get("state", "?")
    head = Text.assemble(
        ("run ", "bold"),
        (doc.get("run_id", "?"), "bold"),
        f"  flow {doc.get('flow')} ",
        (f"v{doc.get('flow_version')}", "dim"),
        "  ",
        (state, RUN_STYLES.get(state, "")),
    )
    tree = Tree(head)
    for task in doc.get("tasks", []):
        label, style = _state_label(task, waiting)
        icon = "?" if task["task_key"] in waiting else ICONS.get(task["state"], ("?", ""))[0]
        line = Text.assemble(
            (f"{icon} ", style), (f"{task['task_key']:<18}", "bold"), (f"{label:<18} ", style)
        )
        line.no_wrap, line.overflow = True, "ellipsis"
        if (task.get("attempt") or 0) > 1:
            line.append(f"attempt {task['attempt']}  ", "yellow")
        line.append(f"{duration(task, now):>7}  ", "dim")
        line.append(iteration_counts(task), "cyan")
        if task.get("error"):
            line.append(error_message(task), "red")
        elif task.get("value") is not None:
            line.append(show_value(task["value"]))
        node = tree.add(line)
        hint = (hints or {}).get(task["task_key"])
        if hint:
            node.add(Text(hint, style="yellow"))
    return Group(tree)


def summary_table(doc: dict[str, Any], waiting: Collection[str] = (), width: int | None = None) -> Table:
    """One row a task: state, attempt, timing, promise id, Databricks run, value or error.

    Every column but the last is as wide as its content (a promise id is never cut: it is
    copied); the value or error gets what ``width`` (the terminal's) leaves, cut with an
    ellipsis. On a narrow terminal the Databricks run column goes first (``lakehook logs`` has it).
    """
    rows: list[list[Any]] = []
    for task in doc.get("tasks", []):
        label, style = _state_label(task, waiting)
        detail = Text(iteration_counts(task), "cyan")
        detail.append_text(
            Text(error_message(task), "red") if task.get("error") else Text(show_value(task.get("value")))
        )
        rows.append(
            [
                task["task_key"],
                Text(label, style),
                str(task.get("attempt") or ""),
                duration(task),
                task.get("promise_id") or "",
                str(task.get("databricks_run_id") or ""),
                detail,
            ]
        )
    headers = ["task", "state", "try", "time", "promise", "Databricks run"]
    widths = [max([len(h)] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    keep = list(range(len(headers)))
    if width is not None and width - _used(widths) < 16:
        keep.remove(5)
    table = Table(title=f"{doc.get('flow')} · {doc.get('run_id')} · {doc.get('state')}", title_style="bold")
    for i in keep:
        table.add_column(
            headers[i], no_wrap=True, width=widths[i], justify="right" if i in (2, 3) else "left"
        )
    left = None if width is None else max(8, width - _used([widths[i] for i in keep]))
    table.add_column("value / error", no_wrap=True, overflow="ellipsis", width=left)
    for row in rows:
        table.add_row(*[row[i] for i in keep], row[-1])
    return table


def _used(widths: list[int]) -> int:
    """Characters a table's columns of ``widths`` take, with padding and borders, plus the
    last column's padding and border."""
    return sum(widths) + 3 * len(widths) + 4


def next_steps(doc: dict[str, Any], hints: dict[str, str], url_flag: str = "") -> list[str]:
    """Rich-markup lines under a run: each approval to give, each failure's reason and log."""
    lines = [f"[yellow]? {escape(key)} waits for approval:[/] {escape(line)}" for key, line in hints.items()]
    for task in doc.get("tasks", []):
        if task["state"] not in FAILED_TASK_STATES:
            continue
        key = task["task_key"]
        lines.append(
            f"[red]✗ {escape(key)} {task['state']}:[/] {escape(error_message(task) or 'no reason given')}"
        )
        where = f"lakehook logs {doc.get('run_id')} {key}{url_flag}"
        local = _LOCAL_LOG.search(error_message(task))
        if local:  # the local workspace names the task's log file in the error
            where = f"{local.group(1)}  ·  {where}"
        if task.get("run_page_url") and "//127.0.0.1:" not in task["run_page_url"]:  # local: no page
            where += f"  ·  run page {task['run_page_url']}"
        lines.append(f"  [dim]log:[/] {escape(where)}")
    return lines
