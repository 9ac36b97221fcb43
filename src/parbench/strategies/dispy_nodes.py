"""dispynode daemons on this machine: start them on free ports, wait until they serve, stop them leaving nothing.

The dispy strategy starts its embedded nodes with this module; `scripts/dispy-nodes` starts nodes for a
real cluster with it. Two facts about dispy 4.15 shape it:

- a node's TCP server listens on `dispy_port + 1`: a node wanted on port Q is started with `-p Q-1`;
- a dispy client tells nodes apart by IP address alone, so several nodes on one machine each need their own
  address: node k binds 127.0.0.{k+1} (Linux routes all of 127.0.0.0/8 to the loopback interface).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from parbench.addresses import host_problem
from parbench.cpus import usable_cpus
from parbench.errors import StrategyError, UserError
from parbench.lifelines import die_with_parent
from parbench.workloads.base import split_range

# dispynode's own default: dispy_port 9700, so the node listens on 9701.
DEFAULT_NODE_PORT = 9701
# How often a starting node is probed.
_POLL_S = 0.02
# Where scripts/dispy-nodes keeps the cluster's secret: outside any checkout, readable by its owner only.
DEFAULT_SECRET_FILE = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "parbench" / "dispy-secret"


@dataclass(frozen=True)
class NodeAddress:
    """Where a dispynode listens: host (name or IPv4 address) and TCP port."""

    host: str
    port: int = DEFAULT_NODE_PORT

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_nodes(text: str) -> list[NodeAddress]:
    """Parse `host[:port][,host[:port]...]`; the port defaults to dispynode's 9701."""
    nodes = []
    for item in (part.strip() for part in text.split(",")):
        host, sep, port = item.partition(":")
        if not host or (sep and not port.isdigit()) or ":" in port:
            raise UserError(f"dispy nodes: expected host[:port][,host[:port]...], got {item!r} in {text!r}")
        problem = host_problem(host)
        if problem:
            raise UserError(f"dispy nodes: {problem} (in {text!r})")
        number = int(port) if sep else DEFAULT_NODE_PORT
        if not 1 <= number <= 65535:
            raise UserError(f"dispy nodes: port {number} of {item!r} is not between 1 and 65535")
        nodes.append(NodeAddress(host, number))
    return nodes


def nodes_problem(text: str) -> str | None:
    """What is wrong with a --dispy-nodes value, or None (an empty one means: start local nodes)."""
    if not text:
        return None
    try:
        parse_nodes(text)
    except UserError as exc:
        return str(exc)
    return None


def loopback(index: int) -> str:
    """The loopback address of local node `index` (0-based): one address per node, as dispy needs."""
    if not 0 <= index < 254:
        raise UserError(f"at most 254 local dispy nodes (one per loopback address), asked for node {index + 1}")
    return f"127.0.0.{index + 1}"


def free_port(host: str) -> int:
    """A TCP port free on `host` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def spread(total: int, parts: int) -> list[int]:
    """`total` in `parts` shares differing by at most one: spread(5, 2) == [2, 3]."""
    return [task.hi - task.lo for task in split_range(total, parts)]


def split_cpus(workers: int, cpus: int) -> list[int]:
    """CPUs per local node for `workers`: dispynode serves at most the machine's CPUs, so one node per `cpus`
    workers, the workers spread evenly (2 workers on 2 CPUs: one node; 3: two nodes, of 1 and 2 CPUs)."""
    return spread(workers, -(-workers // max(1, cpus)))


def node_cpus() -> int:
    """The CPUs one local node may serve: the usable ones, at most cpu_count() (dispynode checks -c against it)."""
    usable = len(usable_cpus())
    return min(usable, os.cpu_count() or usable)


def read_secret(path: str) -> str:
    try:
        return Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise UserError(f"cannot read the dispy secret file {path!r}: {exc.strerror}") from None


def make_secret_file(path: Path) -> str:
    """The secret in `path`, created (random, owner-only) when missing, so every machine can share one."""
    if path.exists():
        return read_secret(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(24)  # hex: never starts with "-", which a command line would take for a flag
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret


def _node_config(path: Path, address: NodeAddress, cpus: int, secret: str) -> Path:
    """dispynode's --config file (owner-only): the secret goes there, not on a command line ps shows to all.
    dispynode's loader converts exactly these keys and requires them; the others keep their defaults."""
    settings = {"hosts": repr([address.host]), "ext_hosts": "", "dispy_port": address.port - 1, "cpus": cpus,
                "ipv4_udp_multicast": False, "zombie_interval": 60.0, "ping_interval": "", "msg_timeout": 10,
                "serve": -1, "loglevel": False, "clean": True, "safe_setup": True, "force_cleanup": False,
                "daemon": True, "secret": secret}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("[DEFAULT]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items()))
    return path


class LocalNode:
    """One dispynode process in its own session (so its per-job children die with it), logging to a file."""

    def __init__(self, address: NodeAddress, cpus: int, secret: str, root: Path, name: str) -> None:
        self.address, self.cpus, self.name = address, cpus, name
        self.log = root / f"{name}.log"
        # dispynode keeps its files under <prefix>/dispy/node and chmods <prefix>/dispy: a folder of its own.
        prefix = root / name
        prefix.mkdir()
        config = _node_config(root / f"{name}.cfg", address, cpus, secret)
        command = [sys.executable, "-m", "parbench.strategies.dispynode_loopback", "--config", str(config),
                   "--name", name, "--dest_path_prefix", str(prefix)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         # its own session: out of reach of a signal to parbench's group, so
                                         # it must die with parbench by itself
                                         start_new_session=True, preexec_fn=die_with_parent(),  # noqa: PLW1509
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def serving(self) -> bool:
        """Whether the node accepts connections (it logs the probe as an invalid request, harmlessly)."""
        try:
            socket.create_connection((self.address.host, self.address.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def log_tail(self) -> str:
        """The node's last log line: why it stopped, usually."""
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def describe_death(self) -> str:
        tail = self.log_tail()
        return f"dispynode {self.name} at {self.address} exited with code {self.proc.returncode}" + (
            f": {tail}" if tail else "")

    def kill(self) -> None:
        """SIGKILL the node's whole process group (node and job processes) and reap it. Safe to call twice."""
        if self.proc.returncode is None:
            # The group id stays reserved while the unreaped leader exists, so the group signal cannot hit a
            # stranger; job processes forked by the node are in the same group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_nodes(cpus: Sequence[int], secret: str, root: Path, hosts: Sequence[str] | None = None,
                port: int | None = None) -> list[LocalNode]:
    """Start one node per entry of `cpus`, node k on `hosts[k]` (default: its own loopback address) and on
    `port` (default: a free one). On failure the nodes already started are killed."""
    nodes: list[LocalNode] = []
    try:
        for k, count in enumerate(cpus):
            host = hosts[k] if hosts else loopback(k)
            address = NodeAddress(host, port or free_port(host))
            nodes.append(LocalNode(address, count, secret, root, f"parbench-node-{k}"))
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def wait_serving(nodes: Sequence[LocalNode], timeout: float) -> None:
    """Return once every node accepts connections; a node that exits or stays silent is a StrategyError."""
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending:
        for node in list(pending):
            if not node.alive():
                raise StrategyError(node.describe_death())
            if node.serving():
                pending.remove(node)
        if pending and time.monotonic() > deadline:
            names = ", ".join(f"{n.name} at {n.address}" for n in pending)
            raise StrategyError(f"dispynode {names} did not start serving within {timeout:g} s")
        if pending:
            time.sleep(_POLL_S)


def stop_nodes(nodes: Sequence[LocalNode]) -> None:
    for node in nodes:
        node.kill()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/dispy-nodes", description="Start COUNT dispy nodes on this machine for parbench and keep "
        "them serving until Ctrl-C. On a real cluster run it on every machine with COUNT=1 and --host set to "
        "that machine's address; COUNT>1 puts the nodes on 127.0.0.1, 127.0.0.2, ... for a local cluster.")
    parser.add_argument("count", type=int, help="number of nodes to start")
    parser.add_argument("--host", default="127.0.0.1", help="address the node listens on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_NODE_PORT,
                        help=f"TCP port the nodes listen on (default: {DEFAULT_NODE_PORT}); open it in the firewall")
    parser.add_argument("--cpus", type=int, default=0,
                        help="CPUs each node serves (default: this machine's usable CPUs shared among the nodes)")
    parser.add_argument("--secret-file", default=str(DEFAULT_SECRET_FILE),
                        help="file holding the shared secret, created when missing (default: %(default)s)")
    return parser


def _node_hosts(count: int, host: str) -> list[str]:
    if count < 1:
        raise UserError(f"COUNT must be at least 1, got {count}")
    if count == 1:
        return [host]
    if host != "127.0.0.1":
        raise UserError("dispy tells nodes apart by IP address, so one address serves one node: run one node "
                        "per machine (it serves all its CPUs), or several on the default 127.0.0.1 locally")
    return [loopback(k) for k in range(count)]


def _announce(nodes: Sequence[LocalNode], secret_file: str) -> None:
    for node in nodes:
        print(f"dispy node {node.name} serving {node.cpus} CPU(s) at {node.address} (pid {node.pid})")
    addresses = ",".join(str(n.address) for n in nodes)
    local = all(n.address.host.startswith("127.") for n in nodes)
    host = "127.0.0.1" if local else "<this client's address, reachable from the nodes>"
    print(f"\nsecret: {secret_file} (the client and every node need the same secret)")
    print("point parbench at them:")
    print(f"  .venv/bin/parbench run --strategy dispy --workers {sum(n.cpus for n in nodes)} --dispy-nodes {addresses}"
          f" --dispy-secret-file {secret_file} --dispy-host {host}")
    print("Ctrl-C stops the nodes.", flush=True)


def _serve(nodes: Sequence[LocalNode]) -> int:
    """Block until a node dies (1); Ctrl-C and SIGTERM end the wait with KeyboardInterrupt."""
    while True:
        for node in nodes:
            if not node.alive():
                print(node.describe_death(), file=sys.stderr)
                return 1
        time.sleep(0.5)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        hosts = _node_hosts(args.count, args.host)
        cpus = args.cpus or max(1, node_cpus() // args.count)
        secret = make_secret_file(Path(args.secret_file).expanduser())
    except UserError as exc:
        print(f"dispy-nodes: error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C: the nodes are killed in `finally`
    with tempfile.TemporaryDirectory(prefix="parbench-dispy-nodes-") as root:
        nodes: list[LocalNode] = []
        try:
            nodes = start_nodes([cpus] * args.count, secret, Path(root), hosts, args.port)
            wait_serving(nodes, timeout=30)
            _announce(nodes, args.secret_file)
            return _serve(nodes)
        except StrategyError as exc:
            print(f"dispy-nodes: failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            stop_nodes(nodes)


if __name__ == "__main__":
    sys.exit(main())
