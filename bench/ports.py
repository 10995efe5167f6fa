"""A loopback port for a server that is started (or started again) after it is chosen."""

from __future__ import annotations

import random
import socket

# Below Linux's ephemeral range (32768-60999): with many client sockets open (thousands
# of simulated stores, or tests running four at a time), a port the kernel hands out
# there can become some client's local port before the server binds it.
SERVER_PORTS = range(20000, 32000)


def free_server_port(tries: int = 200) -> int:
    """A port in SERVER_PORTS that nothing on 127.0.0.1 holds now."""
    for port in random.sample(SERVER_PORTS, tries):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(
        f"no free port on 127.0.0.1 from {SERVER_PORTS.start} to {SERVER_PORTS.stop - 1}"
        f" in {tries} tries"
    )
