"""A flow job's ``schedule`` or ``trigger.periodic`` → :class:`FlowSchedule`, every problem located.

The flow job is deployed to Databricks too, and Databricks must never start it itself (the flow
would run twice): its schedule or trigger must say ``pause_status: PAUSED``. lakehook fires the
schedule, behind its own switch kept in the resolver. Other triggers (file arrival, table update,
continuous) cannot start a flow and are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from lambda_resolver.compiler.bundle import PathKey, scalar_text
from lambda_resolver.core.schedule import PERIODIC_UNITS, CronError, FlowSchedule, ZoneError, parse, zone
from lambda_resolver.core.schedule.walltime import next_wall

if TYPE_CHECKING:
    from lambda_resolver.compiler.flows import FlowContext

_KNOWN_TRIGGER_KEYS = ("pause_status", "periodic")
_EPOCH = datetime(1970, 1, 1)


def read_schedule(ctx: FlowContext) -> FlowSchedule | None:
    """The flow's schedule (None when it has none, or a problem was reported on ``ctx``)."""
    spec, base = ctx.job.spec, ctx.base
    if spec.get("continuous") is not None:
        ctx.problem(
            "unsupported_trigger",
            f"flow '{ctx.job.key}' has `continuous`: a flow cannot run continuously; use a `schedule` "
            f"(quartz_cron_expression) or `trigger.periodic`, or start runs with `lakehook run`",
            (*base, "continuous"),
        )
        return None
    schedule, trigger = spec.get("schedule"), spec.get("trigger")
    if schedule is not None and trigger is not None:
        ctx.problem(
            "two_schedules",
            f"flow '{ctx.job.key}' has both `schedule` and `trigger`; a job has one trigger: keep one",
            (*base, "trigger"),
        )
        return None
    if isinstance(schedule, dict):
        return _cron(ctx, schedule, (*base, "schedule"))
    if isinstance(trigger, dict):
        return _periodic(ctx, trigger, (*base, "trigger"))
    if schedule is not None or trigger is not None:
        ctx.failed = True  # not a mapping: the schema check reports it
    return None


def _paused(ctx: FlowContext, block: dict[str, Any], path: PathKey, what: str) -> bool:
    status = block.get("pause_status")
    if status == "PAUSED":
        return True
    if status is None or status == "UNPAUSED":
        said = "has no `pause_status`" if status is None else "says `pause_status: UNPAUSED`"
        ctx.problem(
            "schedule_not_paused",
            f"flow '{ctx.job.key}': {what} {said}; add `pause_status: PAUSED` to it — lakehook fires "
            f"the schedule; Databricks must not (it would start the flow job natively, running the flow "
            f"a second time). Whether lakehook fires it is lakehook's own switch "
            f"(`lakehook schedule pause|resume {ctx.job.key}`)",
            (*path, "pause_status") if status is not None else path,
        )
    else:
        ctx.failed = True  # not a PauseStatus at all: the schema check names it
    return False


def _cron(ctx: FlowContext, block: dict[str, Any], path: PathKey) -> FlowSchedule | None:
    paused = _paused(ctx, block, path, "`schedule`")
    expression, timezone_id = block.get("quartz_cron_expression"), block.get("timezone_id")
    if not isinstance(expression, str) or timezone_id is None:
        ctx.failed = True  # missing: the schema check reports the required field
        return None
    tz_text = scalar_text(timezone_id)
    if ctx.leftover(expression, (*path, "quartz_cron_expression"), None, "quartz_cron_expression"):
        return None
    if ctx.leftover(tz_text, (*path, "timezone_id"), None, "timezone_id"):
        return None
    ok = True
    try:
        expr = parse(expression)
        if next_wall(expr, _EPOCH) is None:
            ok = False
            ctx.problem(
                "bad_schedule",
                f"quartz_cron_expression {expression!r} never fires (no date from 1970 to 2099 matches "
                f"it: check the day-of-month against the month, e.g. 30 in FEB)",
                (*path, "quartz_cron_expression"),
            )
    except CronError as err:
        ok = False
        ctx.problem("bad_schedule", str(err), (*path, "quartz_cron_expression"))
    try:
        zone(tz_text)
    except ZoneError as err:
        ok = False
        ctx.problem("bad_schedule", str(err), (*path, "timezone_id"))
    if not (ok and paused):
        return None
    return FlowSchedule("schedule", quartz_cron_expression=expression, timezone_id=tz_text)


def _periodic(ctx: FlowContext, block: dict[str, Any], path: PathKey) -> FlowSchedule | None:
    others = [k for k in block if k not in _KNOWN_TRIGGER_KEYS and block[k] is not None]
    if others:
        ctx.problem(
            "unsupported_trigger",
            f"flow '{ctx.job.key}' has trigger `{others[0]}`: a flow is started by its `schedule`, "
            f"`trigger.periodic` or `lakehook run`, not by {others[0].replace('_', ' ')}; remove it "
            f"(a job that reacts to {others[0].replace('_', ' ')} can run the flow with `lakehook run`)",
            (*path, others[0]),
        )
        return None
    periodic = block.get("periodic")
    if not isinstance(periodic, dict):
        ctx.problem(
            "unsupported_trigger",
            f"flow '{ctx.job.key}' has a `trigger` without `periodic`; give `periodic: {{interval: 1, "
            f"unit: DAYS}}` (or use `schedule` with a quartz_cron_expression)",
            path,
        )
        return None
    paused = _paused(ctx, block, path, "`trigger`")
    interval, unit = periodic.get("interval"), periodic.get("unit")
    if ctx.leftover(interval, (*path, "periodic", "interval"), None, "interval") or ctx.leftover(
        unit, (*path, "periodic", "unit"), None, "unit"
    ):
        return None
    ok = True
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        ok = False
        ctx.problem(
            "bad_schedule",
            f"trigger.periodic.interval must be a whole number of at least 1, not {interval!r}",
            (*path, "periodic", "interval"),
        )
    if unit not in PERIODIC_UNITS:
        ok = False
        ctx.problem(
            "bad_schedule",
            f"trigger.periodic.unit must be one of {', '.join(PERIODIC_UNITS)}, not {unit!r}",
            (*path, "periodic", "unit"),
        )
    if not (ok and paused):
        return None
    assert isinstance(interval, int) and isinstance(unit, str)
    return FlowSchedule("periodic", interval=interval, unit=unit)
