"""lakehook's notebook side: tell the resolver a Databricks task is done, instead of being polled.

::

    from notebook_lib import notify_done, notify_failed, step, heartbeat

    notify_done({"rows": 10})        # resolve this task's promise with a JSON value
    notify_failed(exc)               # reject it (an exception or a message)
    with step() as s:                # done on success (with s.value), failed + re-raised on error
        s.value = {"rows": count()}

The callback handle comes from the ``lakehook`` job parameter (widget, ``--lakehook`` argument
or ``LAKEHOOK`` environment variable); without one, every call warns once and does nothing, so a
notebook run by hand keeps working. Importing this package does no work and loads nothing heavy:
``requests``, ``json`` and ``logging`` are imported when a call needs them.
"""

from __future__ import annotations

from notebook_lib.api import heartbeat, notify_done, notify_failed
from notebook_lib.errors import (
    AlreadySettledError,
    CallbackRejected,
    DeliveryError,
    LakehookError,
    ValueTooLargeError,
)
from notebook_lib.handle import Handle, decode_handle, encode_handle
from notebook_lib.step import Step, step

__version__ = "0.1.0"

__all__ = [
    "AlreadySettledError",
    "CallbackRejected",
    "DeliveryError",
    "Handle",
    "LakehookError",
    "Step",
    "ValueTooLargeError",
    "decode_handle",
    "encode_handle",
    "heartbeat",
    "notify_done",
    "notify_failed",
    "step",
]
