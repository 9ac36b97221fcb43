"""`python -m parbench.strategies.dispynode_loopback --config FILE ...`: dispynode, kept off broadcast sockets.

dispy binds a UDP socket (for discovery pings) to each interface's broadcast address, 255.255.255.255 on
loopback, in the nodes and in the client alike. parbench names its nodes and never discovers them, so
`bind_udp_to_own_address` rebinds those sockets to the address the node or client itself serves on (a
loopback address for the embedded cluster). The secret reaches the node in its --config file (owner-only),
never on a command line that every user can read with ps.
"""

from __future__ import annotations

import functools
import runpy
from typing import Any


def bind_udp_to_own_address(dispy: Any) -> None:
    """Make dispy's host_addrinfo (node and client) bind UDP to the host's own address, not to broadcast."""
    original = dispy.host_addrinfo
    if getattr(original, "parbench_own_address", False):
        return

    @functools.wraps(original)
    def own_address(*args: Any, **kwargs: Any) -> Any:
        info = original(*args, **kwargs)
        if info is not None:
            info.broadcast = info.bind_addr = info.ip
        return info

    own_address.parbench_own_address = True  # type: ignore[attr-defined]
    dispy.host_addrinfo = own_address


def main() -> None:
    import dispy

    bind_udp_to_own_address(dispy)
    runpy.run_module("dispy.dispynode", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
