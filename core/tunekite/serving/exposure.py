"""The warning a server prints when it listens beyond this machine without a key.

Light (standard library only): `tk run app`, a plugin, reaches it through `tunekite.api`.
"""

from __future__ import annotations

import ipaddress
import sys

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def warn_if_exposed(host: str, port: int, what: str, advice: str) -> bool:
    """Print a prominent warning on stderr when `host` is not loopback-only; `what` names
    the server, `advice` says how to protect or restrict it. True when it warned."""
    if is_loopback(host):
        return False
    rule = "!" * 78
    print(
        f"{rule}\n"
        f"WARNING: {what} listens on {host}:{port}, beyond this machine, and no client needs a key:\n"
        f"anyone who can reach this address can use it. {advice}\n"
        f"{rule}",
        file=sys.stderr,
        flush=True,
    )
    return True
