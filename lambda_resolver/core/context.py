"""What the engine's parts share: the store, the launcher, the signer, settings and the clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from lambda_resolver.core.clock import Clock, SystemClock
from lambda_resolver.core.errors import UnknownFlow
from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.store import Store
from lambda_resolver.core.transitions import Transitions

if TYPE_CHECKING:
    from lambda_resolver.core.launcher import Launcher

log = logging.getLogger("lakehook")

MAX_VALUE_BYTES = 256 * 1024


class Settings(NamedTuple):
    """Timing and limits. The defaults suit AWS; the local stack shortens the intervals."""

    callback_url: str  # the base URL notebooks call back (the resolver's public URL)
    default_task_timeout_s: int = 24 * 3600  # every promise has a finite timeout
    stuck_claim_ms: int = 60_000  # a TRIGGERING claim older than this is re-driven
    check_interval_ms: int = 60_000  # how often a RUNNING task's Databricks run is re-read
    propagate_grace_ms: int = 30_000  # a finished task not yet propagated after this is re-driven
    success_grace_ms: int = 10_000  # a run that ended SUCCESS waits this long for notify_done
    run_watchdog_ms: int = 600_000  # how often an active flow run is looked at, whatever happens
    queue_poll_ms: int = 10_000  # how often a queued run retries for a slot
    notify_max_attempts: int = 12  # completion notifications: attempts before giving up
    notify_backoff_ms: int = 30_000  # first retry delay; doubles, capped at an hour
    max_value_bytes: int = MAX_VALUE_BYTES
    # children one settle reaches are delivered, claimed and started side by side, this many at
    # a time (1: one after another); DynamoDB requests wait on the network, not on each other
    fanout_workers: int = 16
    # children one invocation delivers itself; the rest go to other invocations in chunks of as
    # many (core/fanout.py), so no invocation's work grows with the out-degree
    fanout_inline: int = 100


Event = Callable[[str, dict[str, Any]], None]


class Notifier(Protocol):
    """Delivers a final document to a ``notify_url`` (signed); the core schedules the retries."""

    def notify(self, kind: str, record_id: str, url: str) -> bool:
        """POST the final document of a run (``kind`` "run") or promise ("promise") to ``url``.
        True once the receiver accepted it (2xx). Bounded by a total deadline."""
        ...

    def refusal(self, url: str) -> str | None:
        """Why ``url`` cannot be a ``notify_url`` here (what to configure), or None if it can."""
        ...


#: Hands a chunk of a wide fan-out (a ``core.fanout.Chunk``) to another invocation, without waiting.
Handoff = Callable[[Any], None]

#: Hands a claimed notification attempt (kind, record id, attempt) to a worker, without waiting.
Dispatch = Callable[[str, str, int], None]


def _no_event(name: str, fields: dict[str, Any]) -> None:
    return None


class Context:
    """The engine's parts, shared. A plain class, not a dataclass: it is defined before a fresh
    Lambda's first callback, and a dataclass costs ~10x more to define."""

    def __init__(  # noqa: PLR0917 - the positional order callers have always used
        self,
        store: Store,
        launcher: Launcher,
        signer: TokenSigner,
        settings: Settings,
        clock: Clock | None = None,
        event: Event = _no_event,  # metrics and logs hang off this
        notifier: Notifier | None = None,
        dispatch: Dispatch | None = None,  # None: the reconciler sends notifications itself
        handoff: Handoff | None = None,  # None: a wide fan-out's chunks run in turn in the same call
    ) -> None:
        self.store = store
        self.launcher = launcher
        self.signer = signer
        self.settings = settings
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.event = event
        self.notifier = notifier
        self.dispatch = dispatch
        self.handoff = handoff
        self._manifests: dict[tuple[str, int], FlowManifest] = {}

    def now(self) -> int:
        return self.clock.now()

    @cached_property
    def writes(self) -> Transitions:
        """Every state change goes through here: conditions from the machines, one write each."""
        return Transitions(self.store)

    def manifest(self, name: str, version: int | None = None) -> FlowManifest:
        """A flow version; versions are immutable, so they are cached for the process."""
        if version is not None and (name, version) in self._manifests:
            return self._manifests[(name, version)]
        m = self.store.get_flow(name, version)
        if m is None:
            known = ", ".join(sorted(f.name for f in self.store.list_flows())) or "none published"
            what = f"flow '{name}'" + (f" version {version}" if version is not None else "")
            raise UnknownFlow(f"{what} does not exist (known flows: {known})")
        self._manifests[(m.name, m.version)] = m
        return m
