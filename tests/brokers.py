"""A RabbitMQ node of one's own, for tests and benches that stop and restart the broker.

The machine's shared RabbitMQ (127.0.0.1:5672) serves every test run at once, so nothing may
stop it. `PrivateRabbit` starts Debian's `rabbitmq-server` as a second node on free ports,
with its data, logs, config, plugins file and Erlang cookie in a directory of its own, and
stops it (and removes nothing else) at the end:

    with PrivateRabbit() as rabbit:     # or PrivateRabbit(some_dir, management=True)
        rabbit.amqp_uri                 # amqp://guest:guest@127.0.0.1:<port>/
        rabbit.stop_app(); rabbit.start_app()      # an operator's `rabbitmqctl` restart
        rabbit.restart()                # the whole node stopped and started (same ports)
        rabbit.parked()                 # messages waiting in `*.parked` queues
        rabbit.ctl("list_queues")

The node runs as the current user from /usr/lib/rabbitmq/bin (Debian's /usr/sbin wrappers
switch to the `rabbitmq` user, who could not write to a test's temporary directory). It
registers with the machine's epmd like any other node; its name is unique per instance.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


class RabbitNodeError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def available() -> str | None:
    """None when a private node can be started here, else why not."""
    if not (RABBIT_BIN / "rabbitmq-server").exists() or not (RABBIT_BIN / "rabbitmqctl").exists():
        return "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
    if not shutil.which("erl"):
        return "Erlang (erl) is not on PATH"
    return None


class PrivateRabbit:
    """`base_dir` holds the node's files; without one, a temporary directory removed when
    the node stops."""

    def __init__(self, base_dir: Path | None = None, management: bool = False,
                 name: str | None = None):
        self._own_dir = base_dir is None
        self.dir = Path(tempfile.mkdtemp(prefix="jiesu-rabbit-")) if base_dir is None \
            else Path(base_dir)
        self.management = management
        self.node = f"{name or 'jiesu-chaos'}-{uuid.uuid4().hex[:8]}@localhost"
        self.port = self.dist_port = self.management_port = 0
        self.process: subprocess.Popen | None = None

    # ------------------------------------------------------------------ addresses
    @property
    def amqp_uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def amqp_uri_for(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{quote(vhost, safe='')}"

    @property
    def management_uri(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}"

    # ------------------------------------------------------------------ life cycle
    def start(self, timeout: float = 120) -> "PrivateRabbit":
        why_not = available()
        if why_not:
            raise RabbitNodeError(why_not)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.port:  # a restart keeps the ports the clients know
            self.port, self.dist_port = _free_port(), _free_port()
            self.management_port = _free_port() if self.management else 0
        config = [f"listeners.tcp.default = 127.0.0.1:{self.port}",
                  "loopback_users.guest = true",
                  # the tests' files are small; the default 50 MB free-disk alarm would block
                  # publishers on a nearly full disk and look like a bug of ours
                  "disk_free_limit.absolute = 1MB"]
        if self.management:
            config += [f"management.tcp.port = {self.management_port}",
                       "management.tcp.ip = 127.0.0.1"]
        (self.dir / "rabbitmq.conf").write_text("\n".join(config) + "\n")
        (self.dir / "enabled_plugins").write_text(
            "[rabbitmq_management].\n" if self.management else "[].\n")
        cookie = self.dir / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(uuid.uuid4().hex.upper())
            cookie.chmod(0o400)
        log = open(self.dir / "node.out", "ab")
        self.process = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self._env(),
                                        cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        self.wait_up(timeout)
        return self

    def _env(self) -> dict:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(self.dir),  # the cookie: this node and its rabbitmqctl only
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            # not the machine's rabbitmq-env.conf: it names the shared node
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        return env

    def ctl(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        done = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
                              env=self._env(), cwd=self.dir, capture_output=True, text=True,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise RabbitNodeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def wait_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self.process is not None and self.process.poll() is not None:
                raise RabbitNodeError(f"the node exited ({self.process.returncode}); "
                                      f"see {self.dir / 'node.out'}")
            if time.monotonic() > deadline:
                raise RabbitNodeError(f"no AMQP listener on {self.port} after {timeout}s; "
                                      f"see {self.dir / 'node.out'}")
            time.sleep(0.25)
        if self.management:
            while not _answers(self.management_port):
                if time.monotonic() > deadline:
                    raise RabbitNodeError("the management API did not come up")
                time.sleep(0.25)

    def stop_app(self) -> None:
        """The broker goes away (connections reset, listener closed); the Erlang node stays."""
        self.ctl("stop_app")

    def start_app(self, timeout: float = 120) -> None:
        self.ctl("start_app")
        self.wait_up(timeout)

    def restart_app(self, pause: float = 3.0) -> None:
        self.stop_app()
        time.sleep(pause)
        self.start_app()

    def restart(self, timeout: float = 120) -> None:
        """The whole node stopped and started again on the same ports, with its data."""
        self.stop_node(timeout)
        self.start(timeout)

    def parked(self) -> int:
        """Messages waiting in `*.parked` queues, every vhost."""
        total = 0
        for vhost in self.vhosts():
            for line in self.ctl("list_queues", "-p", vhost, "--quiet", "--no-table-headers",
                                 "name", "messages").splitlines():
                name, _, count = line.rpartition("\t")
                if name.endswith(".parked") and count.strip().isdigit():
                    total += int(count)
        return total

    def vhosts(self) -> list[str]:
        return [line.strip() for line in self.ctl(
            "list_vhosts", "--quiet", "--no-table-headers").splitlines() if line.strip()]

    def add_vhost(self, vhost: str, user: str = "guest") -> str:
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        return self.amqp_uri_for(vhost)

    def stop(self, timeout: float = 60) -> None:
        self.stop_node(timeout)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop_node(self, timeout: float = 60) -> None:
        """The Erlang node itself stops (its files stay; `start()` brings it back)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                self.ctl("stop", timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.process = None

    def __enter__(self) -> "PrivateRabbit":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()



@pytest.fixture
def private_rabbit(tmp_path):
    """A RabbitMQ node of the test's own, with the management API, which the test may stop
    and start; the shared broker is never touched. A conftest.py makes it a fixture of its
    tests by importing it."""
    why_not = available()
    if why_not:
        pytest.fail(f"a private RabbitMQ node cannot be started here: {why_not}")
    rabbit = PrivateRabbit(tmp_path / "rabbit", management=True)
    try:
        yield rabbit.start()
    finally:
        rabbit.stop()
