"""Task kinds: what a flow task does when its attempt starts, one module each.

The compiler picks a task's kind, the advancer asks the kind to start an attempt, and the graph
and the manifest checks ask it what the task needs and how to draw it — all through
:func:`kind_of`, never by branching on the kind elsewhere. A new kind is a module here and a
line in ``_MODULES``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, NamedTuple, Protocol

from lambda_resolver.core.manifest import FlowManifest, TaskKind, TaskSpec
from lambda_resolver.core.models import JSON, Promise, Run, Task

if TYPE_CHECKING:
    from lambda_resolver.core.advance import Advancer, Next


class Attempt(NamedTuple):
    """One attempt of a task: its run, the run's manifest, the task's spec, the task, its promise."""

    run: Run
    manifest: FlowManifest
    spec: TaskSpec
    task: Task
    promise: Promise


class Kind(Protocol):
    """One kind of flow task."""

    #: its name in a manifest (``TaskSpec.kind``)
    name: TaskKind
    #: whether the task names a bundle job (``run_job_task``) ...
    needs_job: bool
    #: ... and needs that job's deployed id to run
    needs_job_id: bool
    #: how the graph draws it: a label, whether it waits for an outside settle (dashed), and
    #: whether it is a decision (a diamond)
    label: str
    waits_outside: bool
    decision: bool
    #: whether a settle of its attempt's promise may finish the task in the same write; False
    #: when finishing has work of its own first (``after_finish``: a loop stops its iterations)
    finishes_with_settle: bool

    def start(self, adv: Advancer, a: Attempt) -> Next:
        """Start attempt ``a`` (its promise is pending). Returns the tasks to look at next."""
        ...

    def before_finish(self, adv: Advancer, a: Attempt) -> Promise:
        """Last work on an attempt settled while still TRIGGERING (e.g. stop a run it may have
        started); returns the promise to finish the attempt with."""
        ...

    def outcome(self, value: JSON) -> str | None:
        """The outcome a settled attempt's value gives ``depends_on: {outcome: ...}`` edges."""
        ...

    def after_finish(self, adv: Advancer, spec: TaskSpec, t: Task, p: Promise) -> None:
        """Last work once an attempt's promise is settled, before the task moves on (a for_each
        task stops the iterations still running)."""
        ...


def kind_of(spec: TaskSpec | TaskKind) -> Kind:
    """The kind of a task (or of a manifest kind name)."""
    name = spec if isinstance(spec, TaskKind) else spec.kind
    kind = _KINDS.get(name)
    if kind is None:  # first use: a process imports only the kinds its flows have
        kind = _KINDS[name] = importlib.import_module(f"{__name__}.{_MODULES[name]}").KIND
    return kind


#: kind → the module implementing it (its ``KIND``), imported by :func:`kind_of` on first use
_MODULES: dict[TaskKind, str] = {
    TaskKind.JOB: "run_job",
    TaskKind.EXTERNAL: "external",
    TaskKind.CONDITION: "condition",
    TaskKind.FOR_EACH: "for_each",
}
_KINDS: dict[TaskKind, Kind] = {}
