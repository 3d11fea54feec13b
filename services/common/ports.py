"""The ports a jiesu process listens on, taken by it alone.

eventlet.listen sets SO_REUSEPORT unless told not to, and with it two processes bind one
port and the kernel shares the connections between them: a second `make run` came up on the
first one's ports, and a scrape or a request reached either system. Here a port is bound
without SO_REUSEPORT, and a port someone else listens on stops start-up with one sentence
that says which port it is and which setting moves it.
"""
from __future__ import annotations

import errno
import socket

# Each process serves /metrics, /healthz and /readyz on metrics_port + its offset.
PORT_OFFSETS = {"intake": 1, "routing": 2, "sla": 3, "notify": 4, "rating": 5, "gateway": 6}

GATEWAY = ("the gateway", "JIESU_GATEWAY_PORT changes it")
OPS = ("the ops endpoints", "JIESU_METRICS_PORT changes them, 0 turns them off")


class PortTaken(RuntimeError):
    """The one sentence that says which port is taken and which setting moves it."""


def wanted(settings, services) -> list[tuple[str, int, tuple[str, str]]]:
    """(host, port, what) for every port the processes hosting `services` will listen on:
    the gateway's, and each process's ops port (its first service's offset)."""
    ports = []
    if "gateway" in services:
        ports.append((settings.gateway_host, settings.gateway_port, GATEWAY))
    if settings.metrics_port and services:
        ports.append((settings.metrics_host, settings.metrics_port + PORT_OFFSETS[services[0]],
                      OPS))
    return ports


def is_free(host: str, port: int) -> bool:
    """Whether this process could listen on host:port. SO_REUSEADDR, as every listener here
    sets it, so that a port a stopped run left in TIME_WAIT counts as free; a listener of
    anyone else's (SO_REUSEPORT or not) makes the bind fail."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def taken_sentence(taken) -> str:
    """One sentence for every (host, port, what) that is taken."""
    by_what: dict[tuple[str, str], list[tuple[str, int]]] = {GATEWAY: [], OPS: []}
    for host, port, what in taken:
        by_what.setdefault(what, []).append((host, port))
    parts = []
    for (role, setting), places in by_what.items():
        if places:
            parts.append(f"{_ports(sorted(p for _, p in places))} on {places[0][0]} "
                         f"({role}; {setting})")
    verb = "is" if len(taken) == 1 else "are"
    return f"{' and '.join(parts)} {verb} already in use by another jiesu or another program"


def _ports(numbers: list[int]) -> str:
    """port 8000 / ports 9101–9106 / ports 9101, 9103"""
    if len(numbers) == 1:
        return f"port {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"ports {numbers[0]}–{numbers[-1]}"
    return "ports " + ", ".join(map(str, numbers))


def check_free(ports) -> None:
    taken = [(host, port, what) for host, port, what in ports if not is_free(host, port)]
    if taken:
        raise PortTaken(taken_sentence(taken))


def listen(host: str, port: int, what: tuple[str, str] = OPS):
    """A listening green socket on host:port that no other process shares."""
    import eventlet

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return eventlet.listen((host, port), family=family, reuse_addr=True, reuse_port=False)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortTaken(taken_sentence([(host, port, what)])) from None
        raise
