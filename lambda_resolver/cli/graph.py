"""A flow as a picture: Mermaid text always; SVG or PNG through Graphviz ``dot`` when installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from lambda_resolver.core.kinds import kind_of
from lambda_resolver.core.manifest import FlowManifest

#: Fill colours by task state (Databricks' run-page palette, roughly).
STATE_COLORS: dict[str, str] = {
    "WAITING": "#eeeeee",
    "TRIGGERING": "#cfe2ff",
    "RUNNING": "#9ec5fe",
    "RETRY_WAIT": "#ffe69c",
    "SUCCESS": "#a3cfbb",
    "FAILED": "#f1aeb5",
    "TIMEDOUT": "#f1aeb5",
    "UPSTREAM_FAILED": "#f8d7da",
    "CANCELED": "#dee2e6",
    "UPSTREAM_CANCELED": "#dee2e6",
    "EXCLUDED": "#f8f9fa",
}


def _node_id(key: str) -> str:
    return "t_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


def _label(manifest: FlowManifest, key: str, states: Mapping[str, str]) -> str:
    spec = manifest.task(key)
    label = f"{key}<br/><small>{kind_of(spec).label}{_loop(manifest, key)}"
    if spec.run_if.value != "ALL_SUCCESS":
        label += f" · run_if {spec.run_if.value}"
    label += "</small>"
    if key in states:
        label += f"<br/><b>{states[key]}</b>"
    return label


def _loop(manifest: FlowManifest, key: str, sep: str = " · ") -> str:
    """What a for_each task runs, in one node: ``· <job>, <concurrency> at once``; empty for
    other tasks (one node a loop, never one an iteration)."""
    loop = manifest.task(key).for_each
    return "" if loop is None else f"{sep}{loop.task.job_key}, {loop.concurrency} at once"


def mermaid(manifest: FlowManifest, states: Mapping[str, str] | None = None) -> str:
    """The flow as a Mermaid ``flowchart``; task states (if given) colour the nodes."""
    states = states or {}
    lines = ["flowchart LR"]
    for spec in manifest.tasks:
        shape = ("{{", "}}") if kind_of(spec).decision else ("[", "]")
        lines.append(f'    {_node_id(spec.key)}{shape[0]}"{_label(manifest, spec.key, states)}"{shape[1]}')
    for spec in manifest.tasks:
        for dep in spec.depends_on:
            # An edge into a task that runs on other terms than ALL_SUCCESS is dotted.
            dotted = spec.run_if.value != "ALL_SUCCESS"
            arrow = (
                (f"-. {dep.outcome} .->" if dep.outcome else "-.->")
                if dotted
                else (f"-- {dep.outcome} -->" if dep.outcome else "-->")
            )
            lines.append(f"    {_node_id(dep.task_key)} {arrow} {_node_id(spec.key)}")
    for key, state in states.items():
        if manifest.has_task(key) and state in STATE_COLORS:
            lines.append(f"    style {_node_id(key)} fill:{STATE_COLORS[state]}")
    return "\n".join(lines) + "\n"


def dot(manifest: FlowManifest, states: Mapping[str, str] | None = None) -> str:
    """The flow in Graphviz DOT, for rendering to SVG or PNG."""
    states = states or {}
    out = [
        "digraph flow {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for spec in manifest.tasks:
        state = states.get(spec.key)
        label = spec.key + _loop(manifest, spec.key, "\\nfor each ")
        label += f"\\nrun_if {spec.run_if.value}" if spec.run_if.value != "ALL_SUCCESS" else ""
        label += f"\\n{state}" if state else ""
        shape = "diamond" if kind_of(spec).decision else "box"
        fill = STATE_COLORS.get(state or "", "#ffffff")
        style = ', style="rounded,filled,dashed"' if kind_of(spec).waits_outside else ""
        out.append(f'  "{spec.key}" [label="{label}", shape={shape}, fillcolor="{fill}"{style}];')
    for spec in manifest.tasks:
        for dep in spec.depends_on:
            attrs = _edge_attrs(spec.run_if.value, dep.outcome)
            out.append(f'  "{dep.task_key}" -> "{spec.key}"{attrs};')
    out.append("}")
    return "\n".join(out) + "\n"


def _edge_attrs(run_if: str, outcome: str | None) -> str:
    """A DOT edge's attributes: the condition outcome it carries; dashed into a task whose
    ``run_if`` is not ALL_SUCCESS (it runs whatever that edge brings)."""
    attrs = [f'label="{outcome}"'] if outcome else []
    if run_if != "ALL_SUCCESS":
        attrs.append("style=dashed")
    return f" [{', '.join(attrs)}]" if attrs else ""


def render(manifest: FlowManifest, path: Path, states: Mapping[str, str] | None = None) -> Path:
    """Write an SVG or PNG (by ``path``'s suffix) with Graphviz. RuntimeError says how to get it."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise ValueError(f"{path.name}: the picture must end in .svg or .png")
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(
            "rendering a picture needs Graphviz's `dot` (apt-get install graphviz, or brew install "
            "graphviz); without it, paste the Mermaid text into any Mermaid viewer"
        )
    result = subprocess.run(  # noqa: S603 - `dot` from PATH, arguments built here
        [exe, f"-T{fmt}", "-o", str(path)],
        input=dot(manifest, states).encode(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return path
