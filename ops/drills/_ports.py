"""A free broker port pair for the drills and the tests' private brokers (run as a script it prints one:
fresh_demos.sh uses it that way)."""

from __future__ import annotations

import random
import socket


def free_pair() -> int:
    """A port p with p+1 free too (the broker's controller listens on port+1), below the kernel's ephemeral
    range (32768+): a port-0 pick comes from that range, which outgoing connections and other port-0 listeners on
    a busy machine draw from, so it can be taken again before the broker binds it (fresh-demo drill, run 6 of
    the first batch: the controller's bind failed with "Address already in use")."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair")


if __name__ == "__main__":
    print(free_pair())
