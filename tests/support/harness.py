"""An engine wired to a store, the fake launcher and a fake clock, with helpers tests share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lambda_resolver.core.clock import FakeClock
from lambda_resolver.core.context import Settings
from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import PromiseState, Run, Task, TaskState
from lambda_resolver.core.store import Store
from lambda_resolver.wiring import build_engine

from support.fakes import FakeLauncher

SETTINGS = Settings(
    callback_url="http://127.0.0.1:8765",
    default_task_timeout_s=3600,
    stuck_claim_ms=30_000,
    check_interval_ms=5_000,
    propagate_grace_ms=10_000,
    success_grace_ms=2_000,
    run_watchdog_ms=60_000,
    queue_poll_ms=5_000,
)


@dataclass
class Harness:
    store: Store
    launcher: Any = field(default_factory=FakeLauncher)  # any Launcher; the helpers below need the fake
    clock: FakeClock = field(default_factory=FakeClock)
    settings: Settings = SETTINGS
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.signer = TokenSigner({"k1": b"0123456789abcdef0123456789abcdef"}, "k1")
        self.engine = build_engine(
            store=self.store,
            launcher=self.launcher,
            signer=self.signer,
            settings=self.settings,
            clock=self.clock,
            event=lambda name, fields: self.events.append((name, fields)),
        )
        self.ctx = self.engine.ctx

    def publish(self, manifest: FlowManifest) -> FlowManifest:
        return self.engine.publish(manifest)

    def start(self, flow: str, **kw: Any) -> Run:
        run, _ = self.engine.start_run(flow, **kw)
        return run

    def task(self, run: Run | str, key: str) -> Task:
        run_id = run if isinstance(run, str) else run.run_id
        t = self.store.get_task(run_id, key)
        assert t is not None, key
        return t

    def states(self, run: Run | str) -> dict[str, str]:
        run_id = run if isinstance(run, str) else run.run_id
        return {t.key: t.state.value for t in self.store.list_tasks(run_id)}

    def run(self, run: Run | str) -> Run:
        run_id = run if isinstance(run, str) else run.run_id
        r = self.store.get_run(run_id)
        assert r is not None
        return r

    def succeed(self, run: Run | str, key: str, value: Any = None) -> None:
        t = self.task(run, key)
        assert t.promise_id and t.state in (TaskState.TRIGGERING, TaskState.RUNNING), (key, t.state)
        self.engine.settle(t.promise_id, PromiseState.RESOLVED, value=value)

    def fail(self, run: Run | str, key: str, message: str = "boom") -> None:
        t = self.task(run, key)
        assert t.promise_id and t.state in (TaskState.TRIGGERING, TaskState.RUNNING), (key, t.state)
        self.engine.settle(t.promise_id, PromiseState.REJECTED, error={"type": "Error", "message": message})

    def advance(self, ms: int) -> dict[str, int]:
        """Move the clock and run the reconciler until nothing is due."""
        self.clock.advance(ms)
        total: dict[str, int] = {}
        for _ in range(50):
            counts = self.engine.reconcile()
            if not counts:
                break
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
        return total

    def params_of(self, run: Run | str, key: str) -> dict[str, str]:
        t = self.task(run, key)
        assert t.promise_id
        return dict(self.launcher.run_for(t.promise_id).request.parameters)
