"""Whether `cairn serve` can listen where it was asked to, checked before it says it serves,
and which process holds the port when it cannot (on Linux, from /proc)."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path


def _listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on `port` (TCP, IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def port_holder(port: int) -> int | None:
    """The pid of a process listening on `port`, if this user may see it."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not sockets:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in sockets:
                    return int(entry.name)
        except OSError:
            continue
    return None


def port_refusal(host: str, port: int) -> str | None:
    """Why listening on (host, port) would fail, or None when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                holder = port_holder(port)
                by = f" (by pid {holder})" if holder else ""
                return f"port {port} is in use{by}; use --port to choose another"
            return f"cannot listen on {host}:{port}: {error.strerror or error}"
    return None
