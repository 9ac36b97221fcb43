"""Checks of the network addresses users type (dispy nodes and hosts, a dask scheduler), so a typo is refused
with the other options, before a cell starts, instead of failing at run time."""

from __future__ import annotations

import ipaddress
import re

# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# What distributed can connect to (distributed.comm's registered backends).
DASK_PROTOCOLS = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def host_problem(host: str) -> str | None:
    """Why `host` is neither an IP address nor a host name, or None when it is one."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
        return None
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if host and len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels):
        return None
    return f"{host!r} is not a host name or an IP address"


def port_problem(port: str) -> str | None:
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"port {port!r} is not a number between 1 and 65535"
    return None


def scheduler_problem(address: str) -> str | None:
    """Why `address` is not a dask scheduler address (`[protocol://]host:port`), or None when it is one."""
    protocol, sep, rest = address.partition("://")
    if not sep:
        protocol, rest = "tcp", address
    if protocol not in DASK_PROTOCOLS:
        return f"unknown protocol {protocol!r} in {address!r} (dask speaks {', '.join(DASK_PROTOCOLS)})"
    if protocol == "inproc":
        return None
    host, colon, port = rest.rpartition(":")
    if not colon:
        return f"{address!r} has no port: expected [protocol://]host:port, e.g. tcp://10.0.0.1:8786"
    return host_problem(host) or port_problem(port)
