"""Is this host this machine's loopback? One answer for every part that binds or checks loopback.

The local resolver, the local workspace and ``lakehook dev``'s receivers all refuse anything else:
a name is loopback when it is ``localhost``, an address in 127.0.0.0/8, or ``::1``; a ``Host``
header is loopback when its name is, whatever the port.
"""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback_name(name: str) -> bool:
    """Whether ``name`` (a host name or an address, no port) names the loopback interface."""
    name = name.strip().lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def is_loopback_host_header(host: str) -> bool:
    """Whether a ``Host`` header value (``name[:port]``, ``[v6]:port``) names the loopback."""
    name = host.strip()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else ""
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return is_loopback_name(name)
