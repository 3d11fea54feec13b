"""Prometheus metrics (X9) and each process's operations endpoint.

Every process serves, on its metrics port, `/metrics`, `/healthz` (alive) and `/readyz`
(its databases reachable and migrated, the broker reachable). Counters and histograms count
what this process did (Prometheus sums replicas and handles restarts); gauges that describe
the database (backlog, warning queue, outbox lag) are read from the owner's tables at scrape
time, cached briefly, so they are right with any number of replicas and after a restart.
The names, labels and help texts are listed in docs/OPERATIONS.md.
"""
from __future__ import annotations

import json
import logging
import time

from nameko.extensions import DependencyProvider
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily

from services.common.ports import listen

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
HANDLING_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200,
                    604800)

# ----------------------------------------------------------------------------- machinery
ENTRYPOINT_DURATION = Histogram(
    "jiesu_entrypoint_duration_seconds", "Time a service entrypoint (RPC, event handler, "
    "timer, HTTP) took to run", ["service", "entrypoint"], buckets=LATENCY_BUCKETS)
ENTRYPOINT_ERRORS = Counter(
    "jiesu_entrypoint_errors_total", "Entrypoint runs that ended in an unexpected error",
    ["service", "entrypoint"])
EVENTS_PUBLISHED = Counter(
    "jiesu_events_published_total", "Events the outbox relay published with a broker confirm",
    ["service", "event_type"])
EVENTS_CONSUMED = Counter(
    "jiesu_events_consumed_total", "Events a handler processed successfully",
    ["service", "event_type"])
EVENTS_REDELIVERED = Counter(
    "jiesu_events_redelivered_total", "Events the broker delivered again (redelivered flag)",
    ["service", "event_type"])
DUPLICATES_SKIPPED = Counter(
    "jiesu_events_duplicates_skipped_total", "Events skipped because the consumer had already "
    "applied them (idempotent inbox)", ["service", "consumer"])
EVENTS_PARKED = Counter(
    "jiesu_events_parked_total", "Failed events parked for a person (after the last retry, or at once when they "
    "break their contract)",
    ["service", "queue"])
NOTIFICATIONS_SENT = Counter(
    "jiesu_notifications_sent_total", "Notifications delivered, by channel", ["channel"])
NOTIFICATIONS_FAILED = Counter(
    "jiesu_notifications_failed_total",
    "Notification delivery attempts that failed, by channel", ["channel"])
UP = Gauge("jiesu_up", "1 while the service's process runs", ["service"])

# -------------------------------------------------------------------------------- domain
RECEIVED = Counter(
    "jiesu_complaints_received_total", "Complaints filed, by channel and category",
    ["channel", "category"])
RATINGS = Counter("jiesu_ratings_total", "Satisfaction ratings, by level and unit",
                  ["level", "unit"])
REDO = Counter("jiesu_redo_total", "Cases sent back for redo (发回重办) after a rating",
               ["unit"])
SUPERVISED = Counter("jiesu_supervised_total", "Cases made supervised items (督办)", ["unit"])
TIME_TO_SIGN = Histogram(
    "jiesu_time_to_sign_seconds", "From dispatch to 签收 (signed for)", ["unit"],
    buckets=HANDLING_BUCKETS)
TIME_TO_REPLY = Histogram(
    "jiesu_time_to_reply_seconds", "From receipt to the reply", ["unit"],
    buckets=HANDLING_BUCKETS)


class EntrypointMetrics(DependencyProvider):
    """Times every entrypoint of the service it is declared on and counts its errors."""

    def setup(self):
        UP.labels(self.container.service_name).set(1)
        self._started = {}

    def worker_setup(self, worker_ctx):
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self._started.pop(worker_ctx, None)
        name = worker_ctx.entrypoint.method_name
        service = self.container.service_name
        if started is not None:
            ENTRYPOINT_DURATION.labels(service, name).observe(time.perf_counter() - started)
        expected = getattr(worker_ctx.entrypoint, "expected_exceptions", ())
        if exc_info is not None and not isinstance(exc_info[1], expected or ()):
            ENTRYPOINT_ERRORS.labels(service, name).inc()


# ------------------------------------------------------------- gauges read from the data
class QueryGauge:
    """A gauge family whose samples come from queries on the services' own tables, run at
    most every `max_age` seconds: scrapes stay cheap however many cases there are and however
    often Prometheus comes. Each service hosted in the process adds its source (a process
    may host several, and a restarted container replaces its own)."""

    def __init__(self, name, documentation, labels, max_age=10.0):
        self.name, self.documentation, self.labels = name, documentation, labels
        self.max_age = max_age
        self._sources: dict[str, object] = {}
        self._cache: dict[str, tuple[float, list]] = {}

    def source(self, key: str, query) -> None:
        self._sources[key] = query
        self._cache.pop(key, None)

    def collect(self):
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, query in list(self._sources.items()):
            at, samples = self._cache.get(key, (0.0, []))
            if time.monotonic() - at > self.max_age:
                try:
                    samples = list(query())
                    self._cache[key] = (time.monotonic(), samples)
                except Exception:  # a scrape must not fail because the database blinked
                    log.exception("metrics query for %s (%s) failed", self.name, key)
            for labels, value in samples:
                family.add_metric([str(v) if v is not None else "" for v in labels], value)
        yield family

    def describe(self):
        return [GaugeMetricFamily(self.name, self.documentation, labels=self.labels)]


_GAUGES: dict[str, QueryGauge] = {}


def query_gauge(name: str, documentation: str, labels, max_age: float = 10.0) -> QueryGauge:
    """The process's one QueryGauge of that name (registered with Prometheus once)."""
    if name not in _GAUGES:
        _GAUGES[name] = QueryGauge(name, documentation, labels, max_age)
        REGISTRY.register(_GAUGES[name])
    return _GAUGES[name]


def outbox_lag_collectors(service: str, engine, clock):
    from sqlalchemy import func, select

    from services.common.messaging_tables import outbox

    def unsent():
        with engine.connect() as conn:
            return conn.execute(select(func.count(), func.min(outbox.c.created_at))
                                .where(outbox.c.sent_at.is_(None))).one()

    def count_query():
        return [((service,), unsent()[0])]

    def age_query():
        oldest = unsent()[1]
        age = (clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        return [((service,), max(age, 0.0))]

    query_gauge("jiesu_outbox_unsent", "Outbox rows not yet published", ["service"],
                5).source(service, count_query)
    query_gauge("jiesu_outbox_oldest_unsent_age_seconds",
                "Age of the oldest unpublished outbox row, 0 when none", ["service"],
                5).source(service, age_query)


# ------------------------------------------------------------------------ ops HTTP server
class OpsApp:
    """WSGI app for /metrics, /healthz and /readyz."""

    def __init__(self, readiness_checks, cache_seconds=5.0):
        self.metrics = make_wsgi_app(REGISTRY)
        self.checks = readiness_checks
        self.cache_seconds = cache_seconds
        self._ready = (0.0, None)

    def ready(self):
        at, result = self._ready
        if result is None or time.monotonic() - at > self.cache_seconds:
            problems = {}
            for name, check in self.checks.items():
                try:
                    problem = check()
                except Exception as exc:  # any failure is "not ready", with the reason
                    problem = f"{type(exc).__name__}: {exc}"
                if problem:
                    problems[name] = problem
            result = problems
            self._ready = (time.monotonic(), result)
        return result

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self.metrics(environ, start_response)
        if path == "/healthz":
            from services.common.health import alive  # health imports this module

            return _json(start_response, "200 OK", alive())
        if path == "/readyz":
            problems = self.ready()
            if problems:
                return _json(start_response, "503 Service Unavailable",
                             {"status": "not ready", "problems": problems})
            return _json(start_response, "200 OK", {"status": "ready"})
        return _json(start_response, "404 Not Found", {"error": "not found"})


def _json(start_response, status, body):
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


class OpsServer:
    def __init__(self, listener, thread):
        self.listener, self.thread = listener, thread

    def close(self) -> None:
        self.thread.kill()
        self.listener.close()


def serve_ops(host: str, port: int, readiness_checks) -> OpsServer:
    """Serve the ops endpoints in a greenthread of this (monkey-patched) process, on a port
    no other process shares (PortTaken if one listens there already)."""
    import eventlet
    import eventlet.wsgi

    listener = listen(host, port)
    thread = eventlet.spawn(eventlet.wsgi.server, listener, OpsApp(readiness_checks),
                            log_output=False)
    log.info("ops endpoints on http://%s:%s (/metrics, /healthz, /readyz)", host, port)
    return OpsServer(listener, thread)
