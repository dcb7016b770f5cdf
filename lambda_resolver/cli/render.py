"""How runs look in a terminal: a live tree of tasks with states and timings, a summary table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

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


def short_value(value: Any, limit: int = 60) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_tree(doc: dict[str, Any], now: datetime | None = None) -> Tree:
    """The run as a tree: the run, then each task with its state, attempt, timing and value."""
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
        icon, style = ICONS.get(task["state"], ("?", ""))
        line = Text.assemble(
            (f"{icon} ", style), (f"{task['task_key']:<18}", "bold"), (f"{task['state']:<18}", style)
        )
        if (task.get("attempt") or 0) > 1:
            line.append(f"attempt {task['attempt']}  ", "yellow")
        line.append(f"{duration(task, now):>7}  ", "dim")
        if task.get("error"):
            line.append(short_value(task["error"].get("message")), "red")
        elif task.get("value") is not None:
            line.append(short_value(task["value"]))
        tree.add(line)
    return tree


def summary_table(doc: dict[str, Any]) -> Table:
    """The final table: one row a task, with its Databricks run and its value."""
    table = Table(title=f"{doc.get('flow')} · {doc.get('run_id')} · {doc.get('state')}", title_style="bold")
    for column in ("task", "state", "attempt", "time", "Databricks run", "value / error"):
        table.add_column(column)
    for task in doc.get("tasks", []):
        _, style = ICONS.get(task["state"], ("?", ""))
        detail = (
            (task.get("error") or {}).get("message")
            if task.get("error")
            else short_value(task.get("value"), 80)
        )
        table.add_row(
            task["task_key"],
            Text(task["state"], style),
            str(task.get("attempt") or ""),
            duration(task),
            str(task.get("databricks_run_id") or ""),
            detail or "",
        )
    return table
