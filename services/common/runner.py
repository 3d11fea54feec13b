"""Run one service (or several) in this process:  python -m services.common.runner intake

The settings come from config/jiesu.yaml and JIESU_* variables (services.common.settings).
SIGTERM or SIGINT stops the services gracefully (workers finish, messages are acked or
requeued); a second signal kills them.
"""
import warnings

# eventlet prints a deprecation banner on import; operators can do nothing about it
# (docs/DESIGN.md says why we stay on eventlet with nameko 2).
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import argparse  # noqa: E402
import errno  # noqa: E402
import importlib  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from services.common.logs import configure_logging  # noqa: E402
from services.common.ports import GATEWAY, PORT_OFFSETS, PortTaken, check_free  # noqa: E402
from services.common.settings import Settings, SettingsError, nameko_config  # noqa: E402

SERVICE_CLASSES = {
    "intake": "services.intake.service:IntakeService",
    "routing": "services.routing.service:RoutingService",
    "sla": "services.sla.service:SlaService",
    "notify": "services.notify.service:NotifyService",
    "rating": "services.rating.service:RatingService",
    "gateway": "gateway.service:GatewayService",
}


def service_class(name: str):
    module_name, _, class_name = SERVICE_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def run(service_classes, config) -> None:
    """Like `nameko run`, but a repeated signal cannot stop the runner twice (nameko 2.14's
    timer asserts on a second stop and the process then hangs)."""
    runner = ServiceRunner(config)
    for cls in service_classes:
        runner.add_service(cls)
    signals_seen = []

    def on_signal(signum, _frame):
        signals_seen.append(signum)
        # Signal handlers run in the hub's loop: hand the work to a greenthread.
        eventlet.spawn_n(runner.stop if len(signals_seen) == 1 else runner.kill)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner.start()
    waiting = eventlet.spawn(runner.wait)
    while True:
        try:
            waiting.wait()
            return
        except OSError as exc:  # a signal interrupted the wait: go back to waiting
            if exc.errno != errno.EINTR:
                raise




def readiness_checks(services, settings: Settings) -> dict:
    """What /readyz checks: each service's database reachable and at its newest migration,
    the broker reachable, and the gateway's shared state (Redis) when it has one. Each check
    returns None when fine, else the problem in words an operator can act on."""
    from kombu import Connection

    from services.common.migrate import is_current

    def broker():
        with Connection(settings.amqp_uri, connect_timeout=2) as conn:
            try:
                conn.ensure_connection(max_retries=1, interval_start=0)
            except Exception as exc:
                return f"RabbitMQ at {conn.as_uri()} is unreachable ({exc})"

    def database(service):
        def check():
            if not is_current(service, settings.database_url_for(service)):
                return "database is not at the newest migration"
        return check

    def gateway_state():
        import redis

        client = redis.Redis.from_url(settings.gateway_state_url, socket_timeout=2,
                                      socket_connect_timeout=2)
        try:
            client.ping()
        except redis.RedisError as exc:
            return f"Redis at {settings.gateway_state_url} is unreachable ({exc})"
        finally:
            client.close()

    checks = {"broker": broker}
    checks.update({f"{name}-database": database(name) for name in services
                   if name != "gateway"})
    if "gateway" in services and settings.gateway_state_url.startswith("redis"):
        checks["gateway-state"] = gateway_state
    return checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="run jiesu services in this process")
    parser.add_argument("services", nargs="+", choices=sorted(SERVICE_CLASSES))
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging("+".join(args.services), settings.log_level, settings.log_json)
    try:
        if "gateway" in args.services:
            # nameko's web server binds with SO_REUSEPORT, beside anyone already there
            check_free([(settings.gateway_host, settings.gateway_port, GATEWAY)])
        if settings.metrics_port:
            from services.common.metrics import serve_ops

            serve_ops(settings.metrics_host,
                      settings.metrics_port + PORT_OFFSETS[args.services[0]],
                      readiness_checks(args.services, settings))
    except PortTaken as exc:
        print(f"error: {exc}.", file=sys.stderr)
        return 2
    run([service_class(name) for name in args.services], nameko_config(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
