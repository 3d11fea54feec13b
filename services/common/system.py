"""Run the whole system on one host: one process per service plus the gateway.

    python -m services.common.system          # what `make run` starts, in the foreground

It prints the gateway URL once every service answers, and stops everything on Ctrl-C (or
SIGTERM). If a process dies on its own, the others are stopped and the exit status is 1.
The test suite and bench/intake.py start the system through the same `System` class.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from kombu import Connection

from services.common.settings import REPO_ROOT, SERVICE_NAMES, Settings

DEFAULT_LAYOUT = [[name] for name in SERVICE_NAMES] + [["gateway"]]


class StartupError(RuntimeError):
    pass


class System:
    """A set of runner processes. `layout` groups services into processes:
    [["intake"], ["routing"], ...] is one process each."""

    def __init__(self, env: dict | None = None, layout=None, log_dir: Path | None = None,
                 python: str = sys.executable):
        self.env = dict(os.environ, **(env or {}))
        self.env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
        self.layout = [list(group) for group in (layout or DEFAULT_LAYOUT)]
        self.log_dir = log_dir
        self.python = python
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, object] = {}
        self.settings = Settings.load(environ=self.env)

    @staticmethod
    def key(group) -> str:
        return "+".join(group)

    # ----------------------------------------------------------------------- control
    def start(self, group=None) -> None:
        for grp in ([group] if group else self.layout):
            key = self.key(grp)
            out = None
            if self.log_dir:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                out = open(self.log_dir / f"{key}.log", "ab")
                self._logs[key] = out
            # A session of its own: Ctrl-C in the terminal reaches only the supervisor, which
            # then stops each child once, in order, with SIGTERM.
            self.processes[key] = subprocess.Popen(
                [self.python, "-m", "services.common.runner", *grp], cwd=REPO_ROOT,
                env=self.env, stdout=out, stderr=subprocess.STDOUT if out else None,
                start_new_session=True)

    def kill(self, service: str, sig=signal.SIGKILL) -> None:
        key = self._key_of(service)
        process = self.processes[key]
        process.send_signal(sig)
        process.wait(timeout=30)

    def restart(self, service: str) -> None:
        key = self._key_of(service)
        if self.processes[key].poll() is None:
            self.kill(service, signal.SIGTERM)
        self.start(key.split("+"))

    def stop(self, timeout: float = 20) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in self._logs.values():
            handle.close()

    def dead(self) -> list[str]:
        return [key for key, process in self.processes.items() if process.poll() is not None]

    def _key_of(self, service: str) -> str:
        for key in self.processes:
            if service in key.split("+"):
                return key
        raise KeyError(service)

    # ---------------------------------------------------------------------- readiness
    @property
    def gateway_url(self) -> str:
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}"

    def wait_ready(self, timeout: float = 60, services=None) -> None:
        """Until every service consumes its RPC queue (its container, and so every event
        queue it declares, is up) and the gateway answers /healthz."""
        wanted = [s for grp in self.layout for s in grp] if services is None else services
        deadline = time.monotonic() + timeout
        pending = set(wanted)
        while pending:
            if self.dead():
                raise StartupError(f"process exited during start-up: {', '.join(self.dead())}")
            if time.monotonic() > deadline:
                raise StartupError(f"not ready after {timeout}s: {', '.join(sorted(pending))}")
            for service in list(pending):
                if self._is_up(service):
                    pending.discard(service)
            if pending:
                time.sleep(0.2)

    def _is_up(self, service: str) -> bool:
        if service == "gateway":
            try:
                with urllib.request.urlopen(self.gateway_url + "/healthz", timeout=1) as reply:
                    return reply.status == 200
            except OSError:
                return False
        try:
            with Connection(self.settings.amqp_uri, connect_timeout=2) as conn:
                _, _, consumers = conn.default_channel.queue_declare(
                    queue=f"rpc-{service}", passive=True)
                return consumers > 0
        except Exception:
            return False


def main() -> int:
    system = System()
    stopping = False

    def _stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    names = ", ".join(System.key(g) for g in system.layout)
    databases = system.settings.database_url_for("{service}")
    print(f"jiesu: starting {names} (databases: {databases})", flush=True)
    system.start()
    try:
        system.wait_ready(timeout=90)
    except StartupError as exc:
        print(f"jiesu: {exc}", file=sys.stderr)
        system.stop()
        return 1
    print(f"jiesu is up: gateway {system.gateway_url}  (API under /api/v1, Ctrl-C stops)",
          flush=True)
    status = 0
    while not stopping:
        dead = system.dead()
        if dead:
            print(f"jiesu: {', '.join(dead)} exited; stopping the rest", file=sys.stderr)
            status = 1
            break
        time.sleep(0.5)
    system.stop()
    print("jiesu: stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
