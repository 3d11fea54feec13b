"""The console's two busiest pages with 100,000 cases in the database (issue 13).

    .venv/bin/python bench/pages.py                 # -n 100000 --requests 200
    .venv/bin/python bench/pages.py -n 20000 --requests 50   # a quick look

Fills intake's and sla's own tables (PostgreSQL databases jiesu_pagesbench_{service}: created,
migrated to head, emptied) with `-n` cases over the last year, in bulk by INSERT … SELECT
generate_series (what filing one costs is bench/intake.py's business): every unit of
config/org.yaml, 90 % closed and the rest open in every state, six timeline lines and a phone
call each, their response and resolution deadlines and sla's access rows. Then starts the
whole system as `make run` does (one process per service, services.common.system.System) in
a RabbitMQ vhost of its own, signs in a handler of 后勤管理处 (u-hqc-1) with the development
sign-in, and times, one request after another over a keep-alive connection on loopback:
- the inbox page GET /console/ (intake's list_cases, the unit's open cases by time left);
- the case page GET /console/cases/<id> of a different case of the unit each time (intake's
  get_complaint, sla's get_deadlines), open and closed ones alike.
Each after a warm-up; p50 / p95 / p99 / max of the server time as the client on the same
host sees it (the page's RPCs, rendering and the loopback round trip). Target: p95 <= 200 ms.
It also times the inbox's SQL alone (EXPLAIN ANALYZE of the query list_cases runs), so a slow
page can be told from a slow query. Prints the figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import io
import random
import re
import statistics
import sys
import time
from datetime import datetime
from html import unescape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
import yaml  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench.intake import Vhost, free_port, machine, prepare_databases  # noqa: E402
from bench.similarity import complaint  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DB_TEMPLATE = "postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_pagesbench_{service}"
SECRET = "pages-bench-secret-0123456789abcdef0123"
HANDLER = "u-hqc-1"   # 冯涛 of 后勤管理处 (logistics)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
OPEN_STATES = ("assigned", "signed", "in_progress", "replied", "redo", "returned")


# ============================================================================ filling


def _units() -> list[tuple[str, str, list[str]]]:
    """(unit id, name, handler ids) of every unit but the office, from org.yaml."""
    org = yaml.safe_load((REPO_ROOT / "config" / "org.yaml").read_text(encoding="utf-8"))
    office = org.get("office", "office")
    return [(u["id"], u["name"], [h["id"] for h in u.get("handlers") or ()])
            for u in org["units"] if u["id"] != office and u.get("handlers")]


def _array(values) -> str:
    return "ARRAY[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


def fill(urls: dict[str, str], n: int) -> None:
    """`n` cases in intake (complaints, timeline, communications) and sla (case_access,
    deadlines). Case i: unit i mod units (the handler's unit gets its share), received in
    the last 365 days, open when i mod 10 == 0 (its state by i mod 60), else closed."""
    units = _units()
    unit_ids = _array(u for u, _, _ in units)
    unit_names = _array(name for _, name, _ in units)
    handlers = _array(hs[0] for _, _, hs in units)
    states = _array(OPEN_STATES)
    cases = f"""
        SELECT i,
               md5('case' || i)::uuid::text AS id,
               'JS' || lpad(i::text, 9, '0') AS number,
               CASE WHEN i % 10 = 0 THEN ({states})[1 + (i / 10) % {len(OPEN_STATES)}]
                    ELSE 'closed' END AS status,
               ({unit_ids})[1 + i % {len(units)}] AS unit_id,
               ({unit_names})[1 + i % {len(units)}] AS unit_name,
               ({handlers})[1 + i % {len(units)}] AS handler_id,
               now() - ((i % 525600) || ' minutes')::interval AS received_at
        FROM generate_series(1, {n}) AS i"""
    intake = create_engine(urls["intake"])
    # Each case's text from bench/similarity.py's generator (places x facilities x faults),
    # so the similar-cases index of the case page ranks a realistic mix, not one text.
    rng = random.Random(13)
    raw = intake.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_texts (i integer PRIMARY KEY, "
                       "body text NOT NULL)")
        cursor.execute("TRUNCATE bench_texts")
        rows = "".join(f"{i}\t{complaint(rng)}\n" for i in range(1, n + 1))
        cursor.copy_expert("COPY bench_texts (i, body) FROM STDIN", io.StringIO(rows))
        raw.commit()
    finally:
        raw.close()
    with intake.begin() as conn:
        conn.execute(text(f"""
            INSERT INTO complaints (id, number, status, channel, category, title, content,
                location, contact_phone, anonymous, complainant_id, complainant_name,
                received_at, grade, unit_id, unit_name, handler_id, handler_name, assigned_at,
                due_at, first_due_at, response_due_at, filing_key, round, disputed,
                proactive, instructed, urgent, sla_state, lead_unit_id, reply_outcome,
                reply_text, pledge)
            SELECT c.id, c.number, c.status,
                   (ARRAY['app','wechat','hotline','open311'])[1 + c.i % 4],
                   (ARRAY['logistics','security','education','finance'])[1 + c.i % 4],
                   NULL,
                   (SELECT body FROM bench_texts WHERE bench_texts.i = c.i),
                   '学生公寓' || (c.i % 30) || '号楼', '139' || lpad((c.i % 100000000)::text, 8, '0'),
                   c.i % 17 = 0, 's' || (2020000000 + c.i % 40000), '学生' || (c.i % 40000),
                   c.received_at, 'general', c.unit_id, c.unit_name, c.handler_id, '承办人',
                   c.received_at + interval '5 minutes',
                   c.received_at + interval '5 days', c.received_at + interval '5 days',
                   c.received_at + interval '1 day', 'bench-' || c.i, 0, false, false, false,
                   false,
                   CASE WHEN c.status = 'closed' THEN 'normal'
                        ELSE (ARRAY['normal','warning','overdue'])[1 + c.i % 3] END,
                   c.unit_id,
                   CASE WHEN c.status IN ('closed','replied') THEN 'solved' END,
                   CASE WHEN c.status IN ('closed','replied') THEN '已维修,恢复供水。' END,
                   '本人承诺如实反映'
            FROM ({cases}) AS c"""))
        conn.execute(text(f"""
            INSERT INTO timeline (complaint_id, at, kind, text, actor)
            SELECT c.id, c.received_at + (k || ' hours')::interval,
                   (ARRAY['received','assigned','deadline_set','sign_for','communicate',
                          'reply'])[k + 1],
                   (ARRAY['已受理','派单至' || c.unit_name,'办理时限 5 天','承办人签收',
                          '电话沟通','答复:已维修'])[k + 1], '承办人'
            FROM ({cases}) AS c, generate_series(0, 5) AS k"""))
        conn.execute(text(f"""
            INSERT INTO communications (complaint_id, kind, at, with_whom, summary, round,
                recorded_by, recorded_at)
            SELECT c.id, 'phone', c.received_at + interval '2 hours', '诉求人',
                   '已与诉求人电话沟通维修安排', 0, c.handler_id,
                   c.received_at + interval '2 hours'
            FROM ({cases}) AS c"""))
        conn.execute(text("DROP TABLE bench_texts"))
        conn.execute(text("ANALYZE"))
    intake.dispose()
    sla = create_engine(urls["sla"])
    with sla.begin() as conn:
        conn.execute(text(f"""
            INSERT INTO case_access (complaint_id, complainant_id, unit_id, assisting_unit_ids)
            SELECT c.id, 's' || (2020000000 + c.i % 40000), c.unit_id, '[]'::json
            FROM ({cases}) AS c"""))
        conn.execute(text(f"""
            INSERT INTO deadlines (complaint_id, kind, grade, unit_id, starts_at, due_at,
                status, round, state, number, category, met_at, milestone_id)
            SELECT c.id, kind, 'general', c.unit_id, c.received_at,
                   c.received_at + CASE kind WHEN 'response' THEN interval '1 day'
                                            ELSE interval '5 days' END,
                   CASE WHEN c.status = 'closed' THEN 'met' ELSE 'pending' END, 0, 'normal',
                   c.number, 'logistics',
                   CASE WHEN c.status = 'closed' THEN c.received_at + interval '2 days' END, ''
            FROM ({cases}) AS c, unnest(ARRAY['response','resolution']) AS kind"""))
        conn.execute(text("ANALYZE"))
    sla.dispose()


def inbox_sql_ms(url: str, unit: str, handler: str) -> tuple[float, str]:
    """The inbox query as list_cases runs it for a handler (views.case_list with the read
    scope of services.common.access), timed by EXPLAIN ANALYZE; its plan's first lines."""
    open_states = ("received", "assigned", "returned", "signed", "in_progress", "replied",
                   "redo", "supervised")
    sql = f"""EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM complaints
        WHERE (complainant_id = :me OR unit_id = :unit OR reporter_unit_id = :unit
               OR assisting_units LIKE :needle ESCAPE '/')
          AND status IN ({', '.join(f"'{s}'" for s in open_states)})
        ORDER BY due_at ASC NULLS LAST LIMIT 50"""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            plan = [row[0] for row in conn.execute(text(sql), {
                "me": handler, "unit": unit, "needle": f'%"id": "{unit}"%'})]
    finally:
        engine.dispose()
    total = next(float(m.group(1)) for line in plan
                 if (m := re.search(r"Execution Time: ([\d.]+) ms", line)))
    return total, "\n".join("    " + line for line in plan[:12])


# ============================================================================ measuring
class Console:
    """A staff member's browser: the session cookie sent by hand (it is Secure and this is
    plain http on loopback, which requests' cookie jar would not send it over)."""

    def sign_in(self, person: str) -> None:
        page = self.http.get(self.base + "/console/login", timeout=30)
        pre = page.cookies["jiesu_console"]
        token = unescape(CSRF.search(page.text).group(1))
        signed = self.http.post(self.base + "/console/login/dev", timeout=30,
                                data={"csrf_token": token, "person": person, "next": "/console/"},
                                headers={"Cookie": f"jiesu_console={pre}"},
                                allow_redirects=False)
        assert signed.status_code == 303, signed.text[:300]
        self.http.headers["Cookie"] = f"jiesu_console={signed.cookies['jiesu_console']}"

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.refused: list[str] = []

    def timed(self, path: str) -> float:
        started = time.perf_counter()
        reply = self.http.get(self.base + path, timeout=30, allow_redirects=False)
        elapsed = time.perf_counter() - started
        if reply.status_code != 200:   # counted and listed, not timed
            self.refused.append(f"{path}: {reply.status_code}")
        return elapsed


def stats(values: list[float]) -> str:
    ordered = sorted(values)

    def pick(q):   # nearest rank
        return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]
    return (f"p50 {pick(0.50) * 1000:6.1f} ms  p95 {pick(0.95) * 1000:6.1f} ms  "
            f"p99 {pick(0.99) * 1000:6.1f} ms  max {ordered[-1] * 1000:6.1f} ms  "
            f"mean {statistics.mean(values) * 1000:6.1f} ms  (n={len(values)})")


def run(args) -> None:
    from services.common.system import System

    print(f"date     {datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}")
    print(f"machine  {machine()}")
    urls = prepare_databases(DB_TEMPLATE)
    started = time.perf_counter()
    fill(urls, args.n)
    print(f"filled   {args.n} cases (intake: complaints, {6 * args.n} timeline lines, "
          f"{args.n} calls; sla: {2 * args.n} deadlines) in {time.perf_counter() - started:.1f} s")
    engine = create_engine(urls["intake"])
    with engine.connect() as conn:
        unit_open = conn.execute(text(
            "SELECT count(*) FROM complaints WHERE unit_id = 'logistics' AND status <> 'closed'"
        )).scalar()
        unit_all = conn.execute(text(
            "SELECT count(*) FROM complaints WHERE unit_id = 'logistics'")).scalar()
        ids = [row[0] for row in conn.execute(text(
            "SELECT id FROM complaints WHERE unit_id = 'logistics' ORDER BY md5(id) LIMIT :k"),
            {"k": args.requests + args.warmup + 1})]
    engine.dispose()
    print(f"unit     后勤管理处: {unit_all} cases, {unit_open} open (the inbox lists 50)")
    sql_ms, plan = inbox_sql_ms(urls["intake"], "logistics", HANDLER)
    print(f"inbox SQL alone (EXPLAIN ANALYZE): {sql_ms:.1f} ms\n{plan}")

    logs = REPO_ROOT / "bench" / "out" / "pages-logs"   # bench/out/ is not committed
    with Vhost() as vhost:
        system = System({
            "JIESU_AMQP_URI": vhost.amqp_uri, "JIESU_DATABASE_URL": DB_TEMPLATE,
            "JIESU_GATEWAY_PORT": str(free_port()), "JIESU_JWT_SECRET": SECRET,
            "JIESU_DEV_LOGIN": "true", "JIESU_RATE_LIMIT_IDENTITY_PER_MINUTE": "0",
            "JIESU_RATE_LIMIT_IP_PER_MINUTE": "0", "JIESU_METRICS_PORT": "0",
        }, log_dir=logs)
        system.start()
        try:
            system.wait_ready(timeout=120)
            console = Console(system.gateway_url)
            console.sign_in(HANDLER)
            # The first case page after a start builds intake's similar-cases index of the
            # last similar_window_days (in memory, per process): timed on its own.
            cold = console.timed(f"/console/cases/{ids[-1]}")
            for _ in range(args.warmup):
                console.timed("/console/")
            inbox = [console.timed("/console/") for _ in range(args.requests)]
            for case_id in ids[:args.warmup]:
                console.timed(f"/console/cases/{case_id}")
            case = [console.timed(f"/console/cases/{case_id}")
                    for case_id in ids[args.warmup:-1]]
        finally:
            system.stop()
    print(f"inbox page /console/            {stats(inbox)}")
    print(f"case page  /console/cases/<id>  {stats(case)}")
    print(f"first case page after the start (similar-cases index built): {cold:.2f} s")
    print("target: p95 <= 200 ms for each")
    if console.refused:
        print(f"not 200 ({len(console.refused)}, see {logs}): {console.refused[:10]}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000, help="cases in the database")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=20)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
