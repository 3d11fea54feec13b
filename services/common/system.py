"""Run the whole system on one host: one process per service plus the gateway.

    python -m services.common.system          # what `make run` starts, in the foreground

It prints the gateway URL once every service answers, and stops everything on Ctrl-C (or
SIGTERM). If a process dies on its own, the others are stopped and the exit status is 1.
The test suite and the benches start the system through the same `System` class.

Beside another jiesu (a second checkout, a bench, a forgotten terminal), a run stops at once
with one sentence if a port it needs is taken (ports.py), is ready only when the gateway and
ops ports answer with this run's own instance id, and `make run` keeps its messages in a
RabbitMQ vhost of its own ("jiesu:<data dir>", created when missing) unless
JIESU_AMQP_VHOST or JIESU_AMQP_URI names one; it refuses a vhost another run consumes.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

from kombu import Connection

from services.common.health import INSTANCE_VARIABLE
from services.common.ports import GATEWAY, OPS, PORT_OFFSETS, is_free, taken_sentence, wanted
from services.common.settings import REPO_ROOT, SERVICE_NAMES, Settings, vhost_of

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
        # Every /healthz of this run's processes answers it (services/common/health.py).
        self.instance = uuid.uuid4().hex
        self.env[INSTANCE_VARIABLE] = self.instance
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
        """Starts each group's process; nothing at all if a port one of them needs is taken
        (StartupError, one sentence)."""
        groups = [group] if group else self.layout
        self.check_ports(groups)
        for grp in groups:
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

    def check_ports(self, groups=None) -> None:
        ports = [place for grp in (groups or self.layout)
                 for place in wanted(self.settings, list(grp))]
        twice = sorted({port for _, port, _ in ports
                        if [p for _, p, _ in ports].count(port) > 1})
        if twice:  # e.g. two replicas in one layout: one port each is all there is
            raise StartupError(f"two processes of this layout would listen on port "
                               f"{twice[0]}; give the replicas a System (and ports) each")
        taken = [(host, port, what) for host, port, what in ports if not is_free(host, port)]
        if taken:
            raise StartupError(taken_sentence(taken))

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
        if self.settings.metrics_port and not self._answers_as_ours(
                self.settings.metrics_host,
                self.settings.metrics_port + PORT_OFFSETS[self._first_of(service)], OPS):
            return False
        if service == "gateway":
            return self._answers_as_ours(self.settings.gateway_host, self.settings.gateway_port,
                                         GATEWAY)
        try:
            with Connection(self.settings.amqp_uri, connect_timeout=2) as conn:
                _, _, consumers = conn.default_channel.queue_declare(
                    queue=f"rpc-{service}", passive=True)
                return consumers > 0
        except Exception:
            return False

    def _first_of(self, service: str) -> str:
        """The service whose offset names the ops port of the process hosting `service`."""
        return next((grp[0] for grp in self.layout if service in grp), service)

    def _answers_as_ours(self, host: str, port: int, what) -> bool:
        """/healthz on host:port answers with this run's instance id. Another run's answer
        stops start-up: that port is shared, and requests would reach either system."""
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=1) as reply:
                body = json.loads(reply.read() or b"{}")
        except (OSError, ValueError):
            return False
        if body.get("instance") != self.instance:
            role, setting = what
            raise StartupError(f"port {port} on {host} ({role}) answers for another jiesu, "
                               f"not this run: stop that one, or choose another port "
                               f"({setting})")
        return True


# ----------------------------------------------------------------------- make run's vhost
def default_vhost(settings: Settings) -> str:
    """The vhost of `make run` from this checkout: named after its data directory, so that
    two checkouts never share queues and one checkout keeps its own across runs."""
    return f"jiesu:{settings.resolve_path(settings.data_dir)}"


def management_uri(amqp_uri: str) -> str:
    """JIESU_RABBIT_API_URI, else the management API on the broker's host (port 15672)."""
    if os.environ.get("JIESU_RABBIT_API_URI"):
        return os.environ["JIESU_RABBIT_API_URI"]
    parts = urlsplit(amqp_uri)
    user = f"{parts.username or 'guest'}:{parts.password or 'guest'}"
    return f"http://{user}@{parts.hostname or '127.0.0.1'}:15672"


def ensure_vhost(amqp_uri: str) -> None:
    """The vhost amqp_uri names exists (created through the management API, else with a
    local rabbitmqctl) and its user may use it; StartupError says why not."""
    vhost, parts = vhost_of(amqp_uri), urlsplit(amqp_uri)
    user = parts.username or "guest"
    try:
        with Connection(amqp_uri, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
        return
    except Exception as exc:  # a missing vhost is NOT_ALLOWED (530); anything else is fatal
        if not any(word in str(exc) for word in ("NOT_ALLOWED", "ACCESS_REFUSED")):
            raise StartupError(f"RabbitMQ is not reachable at {parts.hostname}:{parts.port or 5672}"
                               f" ({exc}); start it or set JIESU_AMQP_URI") from None
    problems = []
    api = management_uri(amqp_uri)
    try:
        _management(api, "PUT", f"/api/vhosts/{quote(vhost, safe='')}", {})
        _management(api, "PUT", f"/api/permissions/{quote(vhost, safe='')}/{quote(user)}",
                    {"configure": ".*", "write": ".*", "read": ".*"})
        return
    except (OSError, ValueError) as exc:
        problems.append(f"the management API at {urlsplit(api).hostname}:{urlsplit(api).port}"
                        f" said {exc}")
    # rabbitmqctl without -n speaks to this host's default node, the one on 5672
    default_node = (parts.hostname or "127.0.0.1") in ("127.0.0.1", "localhost", "::1") \
        and (parts.port or 5672) == 5672
    if default_node and shutil.which("rabbitmqctl"):
        made = [subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True,
                               timeout=60)
                for args in (["add_vhost", vhost],
                             ["set_permissions", "-p", vhost, user, ".*", ".*", ".*"])]
        failed = [done for done in made if done.returncode != 0]
        if not failed:
            return
        said = (failed[0].stderr or failed[0].stdout or "").strip().splitlines()
        problems.append(f"rabbitmqctl said {said[-1] if said else failed[0].returncode}")
    raise StartupError(
        f"the RabbitMQ vhost {vhost!r} does not exist and could not be created "
        f"({'; '.join(problems) or 'no management API, no local rabbitmqctl'}): create it "
        f"with 'rabbitmqctl add_vhost {vhost}' and 'rabbitmqctl set_permissions -p {vhost} "
        f"{user} \".*\" \".*\" \".*\"', or set JIESU_AMQP_VHOST to one that exists "
        f"(/ shares the default vhost)")


def _management(api: str, method: str, path: str, body) -> None:
    parts = urlsplit(api)
    request = urllib.request.Request(
        f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}{path}", method=method,
        data=json.dumps(body).encode(), headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(
                f"{parts.username or 'guest'}:{parts.password or 'guest'}".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        raise ValueError(f"{exc.code} {exc.reason}") from None


def consumed_by_another_run(amqp_uri: str) -> str | None:
    """The first RPC queue of a jiesu service some process consumes on this vhost."""
    for service in (*SERVICE_NAMES, "gateway"):
        try:
            with Connection(amqp_uri, connect_timeout=5) as conn:
                _, _, consumers = conn.default_channel.queue_declare(
                    queue=f"rpc-{service}", passive=True)
        except Exception:  # no such queue: nobody ran that service on this vhost
            continue
        if consumers:
            return f"rpc-{service}"
    return None


def prepare_broker(system: "System") -> None:
    """`make run`'s vhost: its own unless one is named, existing, and consumed by no other
    run (their services would apply each other's events against other databases)."""
    vhost = vhost_of(system.settings.amqp_uri)
    if not system.settings.amqp_vhost and vhost == "/":
        system.env["JIESU_AMQP_VHOST"] = default_vhost(system.settings)
        system.settings = Settings.load(environ=system.env)
        vhost = vhost_of(system.settings.amqp_uri)
    ensure_vhost(system.settings.amqp_uri)
    queue = consumed_by_another_run(system.settings.amqp_uri)
    if queue:
        raise StartupError(f"another jiesu is running on the RabbitMQ vhost {vhost!r} (its "
                           f"processes consume {queue}): stop it, or give this run a vhost of "
                           f"its own with JIESU_AMQP_VHOST")


def main() -> int:
    system = System()
    stopping = False

    def _stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        system.check_ports()   # before the broker: a taken port is the likelier, plainer case
        prepare_broker(system)
        names = ", ".join(System.key(g) for g in system.layout)
        databases = system.settings.database_url_for("{service}")
        print(f"jiesu: starting {names} (databases: {databases}; RabbitMQ vhost "
              f"{vhost_of(system.settings.amqp_uri)!r})", flush=True)
        system.start()
        system.wait_ready(timeout=90)
    except StartupError as exc:
        print(f"jiesu: {exc}.", file=sys.stderr)
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
