"""Reading a Jobs API run: its life cycle and result, from the legacy ``state`` or the 2.2 ``status``.

Databricks still sends both; ``state`` wins where it is present because it names the result
exactly (a timeout is ``TIMEDOUT`` there, while ``status`` reports the platform's ``CANCELED``).
``status`` fills in what ``state`` lacks, so payloads that carry only ``status`` work too.
Works on the SDK's ``Run`` objects and on anything shaped like them; no SDK import.
"""

from __future__ import annotations

import json
import re
from typing import Any

ENDED = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
_V2_LIFE = {"WAITING": "WAITING_FOR_RETRY"}  # 2.2 status.state → legacy life_cycle_state
_NEVER_RAN = ("SKIPPED", "DISABLED", "MAX_CONCURRENT_RUNS_EXCEEDED", "MAX_JOB_QUEUE_SIZE_EXCEEDED")
_TIMEOUT = re.compile(r"time[sd]?[ _-]?out|timeout", re.IGNORECASE)


def enum_value(value: Any) -> str | None:
    """An SDK enum's value, a plain string as is, None for absent (or unknown to the SDK)."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def from_status(status: Any) -> tuple[str | None, str | None, str]:
    """``(life, result, message)`` from a 2.2 ``status``: TERMINATED plus a termination code
    becomes the legacy life and result (USER_CANCELED → CANCELED; the platform's CANCELED →
    TIMEDOUT when its message says the run timed out; never-ran codes → life SKIPPED)."""
    if status is None:
        return None, None, ""
    life = enum_value(getattr(status, "state", None))
    details = getattr(status, "termination_details", None)
    code = enum_value(getattr(details, "code", None)) if details is not None else None
    message = str(getattr(details, "message", None) or "") if details is not None else ""
    if life != "TERMINATED":
        return (_V2_LIFE.get(life, life) if life else None), None, message
    if code in ("SUCCESS", "SUCCESS_WITH_FAILURES"):
        return "TERMINATED", code, message
    if code == "USER_CANCELED":
        return "TERMINATED", "CANCELED", message
    if code == "CANCELED":
        return "TERMINATED", "TIMEDOUT" if _TIMEOUT.search(message) else "CANCELED", message
    if code in _NEVER_RAN:
        return "SKIPPED", None, message or code
    if code == "INTERNAL_ERROR":
        return "INTERNAL_ERROR", "FAILED", message
    return "TERMINATED", "FAILED", message or (code or "")


def life_result_message(run: Any) -> tuple[str, str | None, str]:
    """``(life, result, message)`` of a run; life is ``UNKNOWN`` when neither shape says."""
    state = getattr(run, "state", None)
    life = enum_value(getattr(state, "life_cycle_state", None)) if state is not None else None
    result = enum_value(getattr(state, "result_state", None)) if state is not None else None
    message = str(getattr(state, "state_message", None) or "") if state is not None else ""
    if life is None or (life in ENDED and result is None and life != "SKIPPED"):
        v2_life, v2_result, v2_message = from_status(getattr(run, "status", None))
        life = life or v2_life
        result = result or v2_result
        message = message or v2_message
    return life or "UNKNOWN", result, message


def decode_output(result: str | None) -> Any:
    """A notebook exit value: JSON-decoded when it parses as JSON, else the string; None absent."""
    if result is None:
        return None
    try:
        return json.loads(result)
    except ValueError:
        return result


def output_task_ids(run: Any) -> list[int]:
    """The task run ids to ask ``runs/get-output`` for the run's exit value, in order.

    A single-task run: its task. A multi-task child job: its notebook tasks, the last to end
    first — the run's value is the exit value of the last notebook task that set one.
    """
    tasks = [t for t in (getattr(run, "tasks", None) or []) if getattr(t, "run_id", None)]
    if len(tasks) == 1:
        return [int(tasks[0].run_id)]
    notebooks = [t for t in tasks if getattr(t, "notebook_task", None) is not None]
    notebooks.sort(key=lambda t: int(getattr(t, "end_time", None) or 0), reverse=True)
    return [int(t.run_id) for t in notebooks]
