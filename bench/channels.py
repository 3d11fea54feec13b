"""Benchmark of the four complaint channels of the gateway (R2): how long each request takes
as the client sees it, one request at a time, and how many requests a second that makes.

    .venv/bin/python bench/channels.py                    # -n 200 --warmup 20 per channel
    .venv/bin/python bench/channels.py -n 20 --warmup 5   # a quick check
    .venv/bin/python bench/channels.py --layout single-process

Like bench/intake.py (whose helpers it uses) it starts the whole system itself
(services.common.system.System) on PostgreSQL databases named jiesu_bench_{service}
(created, migrated and emptied), in a fresh RabbitMQ vhost (deleted afterwards), on a free
gateway port, with every channel switched on (WeChat token and EncodingAESKey, a hotline
webhook secret, an Open311 API key) and the filing rate limits off.

One client (this process, one keep-alive requests.Session) files `--warmup` complaints per
channel (not measured), then `-n` measured ones, each with its own content and complainant and
the ten categories in turn, channel after channel:

  app        POST /api/v1/complaints, a bearer JWT (one complainant per complaint);
  wechat     the three-message dialogue to POST /wechat in plain mode (content, the category's
             menu number, "1 确认"), signed as WeChat signs, one openid per complaint; per
             message and per filing (the sum of the three round trips);
  wechat-aes the same dialogue in safe mode (AES envelopes, msg_signature; the reply is
             decrypted after the clock stops);
  hotline    per call, the CTI's signed `ringing` and `answered` events to
             POST /hotline/calls/events, then the operator's filing for the caller
             (POST /api/v1/staff/hotline/calls/<call_id>/complaints, an office token);
  voicemail  one signed `voicemail` event per call, which files an unclassified case;
  open311    POST /open311/v2/requests.json, form-encoded, with the pledge attribute.

Signing, encrypting and token minting happen before the clock starts; the clock covers the
HTTP round trip including reading the reply. requests/s for a channel = its measured requests
/ the wall time of its measured phase (client work between requests included); filings/s
likewise. At the end it waits (at most --drain-timeout) until every classified case filed in
the run (warm-up included) has been routed (intake's complaints: unit_id set or status no
longer 'received'; voicemails stay unclassified until the office classifies them), and prints
how many were, the machine, the date and a table in Markdown (latencies in ms).

It exits non-zero if any request failed (the first few failures are printed) or if the cases
were not all routed in time.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import sys
import time
import uuid
import warnings
from pathlib import Path
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")  # on import

import requests  # noqa: E402

from bench.intake import (BENCH_SECRET, LAYOUTS, OUT_DIR, Vhost,  # noqa: E402
                          machine, percentiles, prepare_databases, start_system)
from gateway.auth import issue_token  # noqa: E402
from services.common.signing import hmac_signature as cti_signature  # noqa: E402
from gateway.wechat import WeChatCrypto  # noqa: E402
from services.common.contracts import CATEGORIES  # noqa: E402

WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_ACCOUNT = "jiesu-bench-token", "wxbench0123456789", "gh_jiesu"
WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"   # 43 characters, base64
CTI_SECRET = "cti-bench-secret-0123456789abcdef"
OPEN311_APP, OPEN311_KEY = "bench", "k-bench-0123456789abcdef"
CATEGORY_CODES = list(CATEGORIES)          # WeChat's menu number is the 1-based position
CHANNELS = ("app", "wechat", "wechat-aes", "hotline", "voicemail", "open311")
CONTENT = "学生公寓{n}号楼热水已经停了两天,请尽快维修。压测诉求({channel}) #{n}"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMEOUT = 30


class Failed(Exception):
    """A request that did not get the answer it should have."""


class Client:
    """One keep-alive session against the gateway; every request is timed."""

    def __init__(self, url: str, secret: str, run_id: str):
        self.url, self.secret, self.run_id = url, secret, run_id
        self.session = requests.Session()
        self.crypto = WeChatCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID)
        self.office = "Bearer " + issue_token(secret, "u-bench-office", "压测话务员",
                                              ("office",), expires_in=7200, unit="office")
        self.msg_id = 10_000_000

    def timed(self, method: str, path: str, **kwargs) -> tuple[requests.Response, float]:
        started = time.perf_counter()
        try:
            reply = self.session.request(method, self.url + path, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise Failed(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        return reply, time.perf_counter() - started

    @staticmethod
    def expect(reply: requests.Response, status: int, what: str) -> None:
        if reply.status_code != status:
            raise Failed(f"{what}: HTTP {reply.status_code} {reply.text[:200]!r}")

    # ---------------------------------------------------------------------------- app
    def app(self, n: int) -> list[tuple[str, float]]:
        token = issue_token(self.secret, f"bench-{self.run_id}-{n:06d}", f"压测用户{n}",
                            expires_in=7200)
        body = {"category": CATEGORY_CODES[n % len(CATEGORY_CODES)],
                "content": CONTENT.format(n=n, channel="app"), "pledge": True}
        reply, took = self.timed("POST", "/api/v1/complaints", json=body,
                                 headers={"Authorization": f"Bearer {token}"})
        self.expect(reply, 201, "POST /api/v1/complaints")
        return [("POST /api/v1/complaints", took)]

    # ------------------------------------------------------------------------- WeChat
    def _wechat_xml(self, openid: str, text: str) -> str:
        self.msg_id += 1
        return (f"<xml><ToUserName><![CDATA[{WECHAT_ACCOUNT}]]></ToUserName>"
                f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
                f"<CreateTime>{int(time.time())}</CreateTime>"
                f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
                f"<MsgId>{self.msg_id}</MsgId></xml>")

    def _wechat_say(self, openid: str, text: str, safe: bool) -> tuple[str, float]:
        xml = self._wechat_xml(openid, text)
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        if safe:
            envelope = self.crypto.encrypt(xml, nonce, timestamp)
            encrypted = ElementTree.fromstring(envelope).find("Encrypt").text
            body = (f"<xml><ToUserName><![CDATA[{WECHAT_ACCOUNT}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
            params = {"msg_signature": self.crypto.msg_signature(timestamp, nonce, encrypted),
                      "timestamp": timestamp, "nonce": nonce, "encrypt_type": "aes",
                      "openid": openid}
        else:
            body = xml
            params = {"signature": self.crypto.signature(timestamp, nonce),
                      "timestamp": timestamp, "nonce": nonce, "openid": openid}
        reply, took = self.timed("POST", "/wechat", params=params, data=body.encode(),
                                 headers={"Content-Type": "text/xml"})
        self.expect(reply, 200, "POST /wechat")
        try:
            inner = reply.content
            if safe:
                root = ElementTree.fromstring(inner)
                inner = self.crypto.decrypt(inner, root.find("MsgSignature").text,
                                            root.find("TimeStamp").text,
                                            root.find("Nonce").text, time.time())
            content = ElementTree.fromstring(inner).find("Content").text or ""
        except Exception as exc:  # noqa: BLE001 - any unreadable reply is a failure
            raise Failed(f"POST /wechat: unreadable reply ({type(exc).__name__}: {exc})") \
                from None
        return content, took

    def wechat(self, n: int, safe: bool = False) -> list[tuple[str, float]]:
        openid = f"oBench-{self.run_id}-{'s' if safe else 'p'}-{n:06d}"
        category = n % len(CATEGORY_CODES)
        steps = []
        for step, text, expected in (
                ("content", CONTENT.format(n=n, channel="wechat-aes" if safe else "wechat"),
                 "类别"),
                ("category", str(category + 1), "如实反映"),
                ("confirm", "1 确认", "已受理")):
            answer, took = self._wechat_say(openid, text, safe)
            if expected not in answer:
                raise Failed(f"POST /wechat ({step}): unexpected reply {answer[:80]!r}")
            steps.append((f"message: {step}", took))
        return steps + [("filing (3 messages)", sum(took for _, took in steps))]

    # ------------------------------------------------------------------------ hotline
    def _cti(self, event: dict, outcome: str) -> tuple[dict, float]:
        body, timestamp = json.dumps(event).encode("utf-8"), str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-CTI-Timestamp": timestamp,
                   "X-CTI-Signature": cti_signature(CTI_SECRET, timestamp, body)}
        reply, took = self.timed("POST", "/hotline/calls/events", data=body, headers=headers)
        self.expect(reply, 200, f"POST /hotline/calls/events ({event['type']})")
        answer = reply.json()
        if answer.get("outcome") != outcome:
            raise Failed(f"POST /hotline/calls/events ({event['type']}): outcome "
                         f"{answer.get('outcome')!r}, not {outcome!r}")
        return answer, took

    def hotline(self, n: int) -> list[tuple[str, float]]:
        call_id = f"call-{self.run_id}-{n:06d}"
        at = dt.datetime.now(SHANGHAI).isoformat(timespec="seconds")
        base = {"call_id": call_id, "at": at, "caller": f"139{n:08d}"}
        _, rang = self._cti({**base, "event_id": f"{call_id}-r", "type": "ringing"}, "nothing")
        _, answered = self._cti({**base, "event_id": f"{call_id}-a", "type": "answered",
                                 "operator": "op-bench"}, "offer")
        body = {"category": CATEGORY_CODES[n % len(CATEGORY_CODES)],
                "content": CONTENT.format(n=n, channel="hotline"), "pledge_read": True}
        reply, filed = self.timed("POST", f"/api/v1/staff/hotline/calls/{call_id}/complaints",
                                  json=body, headers={"Authorization": self.office})
        self.expect(reply, 201, "POST /api/v1/staff/hotline/calls/<id>/complaints")
        return [("webhook event (ringing)", rang), ("webhook event (answered)", answered),
                ("operator filing", filed), ("call (2 events + filing)", rang + answered + filed)]

    def voicemail(self, n: int) -> list[tuple[str, float]]:
        call_id = f"vm-{self.run_id}-{n:06d}"
        event = {"event_id": f"{call_id}-v", "call_id": call_id, "type": "voicemail",
                 "at": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
                 "caller": f"138{n:08d}",
                 "recording_url": f"https://cti.example.edu.cn/rec/{call_id}.wav",
                 "transcript": CONTENT.format(n=n, channel="voicemail")}
        answer, took = self._cti(event, "voicemail")
        if not (answer.get("complaint") or {}).get("id"):
            raise Failed("POST /hotline/calls/events (voicemail): no complaint in the answer")
        return [("voicemail event (files)", took)]

    # ------------------------------------------------------------------------ Open311
    def open311(self, n: int) -> list[tuple[str, float]]:
        form = {"api_key": OPEN311_KEY, "service_code": CATEGORY_CODES[n % len(CATEGORY_CODES)],
                "description": CONTENT.format(n=n, channel="open311"),
                "address_string": f"学生公寓{n}号楼", "email": f"bench{n}@example.edu.cn",
                "attribute[pledge]": "yes"}
        reply, took = self.timed("POST", "/open311/v2/requests.json", data=form)
        self.expect(reply, 201, "POST /open311/v2/requests.json")
        return [("POST /open311/v2/requests.json", took)]


def run_channel(client: Client, channel: str, warmup: int, count: int, failures: list):
    """Warm-up, then `count` measured filings. ({step: [seconds]}, requests, filings, wall)."""
    file_one = {"app": client.app, "wechat": client.wechat,
                "wechat-aes": lambda n: client.wechat(n, safe=True),
                "hotline": client.hotline, "voicemail": client.voicemail,
                "open311": client.open311}[channel]
    per_filing = {"wechat": 3, "wechat-aes": 3, "hotline": 3}.get(channel, 1)
    steps: dict[str, list[float]] = collections.defaultdict(list)
    filed = {"warmup": 0, "measured": 0}
    wall = 0.0
    for phase, numbers in (("warmup", range(warmup)),
                           ("measured", range(warmup, warmup + count))):
        started = time.perf_counter()
        for n in numbers:
            try:
                timings = file_one(n)
            except Failed as failure:
                failures.append(f"{channel} #{n} ({phase}): {failure}")
                continue
            filed[phase] += 1
            if phase == "measured":
                for step, took in timings:
                    steps[step].append(took)
        if phase == "measured":
            wall = time.perf_counter() - started
    return steps, filed["measured"] * per_filing, filed, wall


def routed_counts(intake_url: str, expected: int, timeout: float):
    """Waits until `expected` classified cases are routed (or `timeout`); per-channel counts
    {channel: (filed, unclassified, routed)} and seconds waited."""
    from sqlalchemy import create_engine, text

    sql = text("SELECT channel, count(*), count(*) FILTER (WHERE category IS NULL), "
               "count(*) FILTER (WHERE category IS NOT NULL AND (unit_id IS NOT NULL "
               "OR status <> 'received')) FROM complaints GROUP BY channel")
    engine = create_engine(intake_url)
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            while True:
                counts = {row[0]: tuple(row[1:]) for row in conn.execute(sql)}
                conn.rollback()
                if sum(c[2] for c in counts.values()) >= expected \
                        or time.monotonic() - started > timeout:
                    break
                time.sleep(0.25)
    finally:
        engine.dispose()
    return counts, time.monotonic() - started


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def run(args) -> int:
    started_at = dt.datetime.now().astimezone()
    secret = BENCH_SECRET
    system = vhost = None
    failures: list[str] = []
    results = {}
    try:

        dbs = prepare_databases()
        vhost = Vhost().__enter__()
        log_dir = OUT_DIR / "logs" / ("channels-" + started_at.strftime("%Y%m%d-%H%M%S"))
        system = start_system(
            vhost, secret, LAYOUTS[args.layout], log_dir,
            JIESU_WECHAT_TOKEN=WECHAT_TOKEN, JIESU_WECHAT_AES_KEY=WECHAT_AES_KEY,
            JIESU_WECHAT_APP_ID=WECHAT_APP_ID,
            JIESU_HOTLINE_WEBHOOK_SECRETS=json.dumps([CTI_SECRET]),
            JIESU_OPEN311_API_KEYS=json.dumps([f"{OPEN311_APP}:{OPEN311_KEY}"]))
        url = system.gateway_url
        print(f"system   {', '.join(system.processes)} up at {url} (vhost {vhost.name}; "
              f"logs {log_dir.relative_to(REPO_ROOT)})", flush=True)

        client = Client(url, secret, uuid.uuid4().hex[:8])
        for channel in CHANNELS:
            before = len(failures)
            results[channel] = run_channel(client, channel, args.warmup, args.complaints,
                                           failures)
            _, _, filed, wall = results[channel]
            print(f"channel  {channel:<10} {filed['measured']} of {args.complaints} measured "
                  f"filings in {wall:.1f} s"
                  + (f"; {len(failures) - before} failed" if len(failures) > before else ""),
                  flush=True)

        filed_total = sum(r[2]["warmup"] + r[2]["measured"] for r in results.values())
        voicemails = sum(results["voicemail"][2].values())
        counts, waited = routed_counts(dbs["intake"], filed_total - voicemails,
                                       args.drain_timeout)
    finally:
        if system is not None:
            system.stop()
        if vhost is not None:
            vhost.__exit__(None, None, None)

    routed = sum(c[2] for c in counts.values())
    unclassified = sum(c[1] for c in counts.values())
    in_db = sum(c[0] for c in counts.values())
    all_routed = routed >= filed_total - voicemails
    print()
    print(f"routed   {routed} of {filed_total - voicemails} classified cases filed in the run "
          f"(warm-up included) within {waited:.1f} s after the last request"
          f"{'' if all_routed else ', TIMED OUT'}; {unclassified} voicemails unclassified, "
          f"as they should be; {in_db} cases in intake "
          f"({', '.join(f'{ch} {c[0]}' for ch, c in sorted(counts.items()))})")
    if in_db != filed_total:
        failures.append(f"intake holds {in_db} cases, the client filed {filed_total}")
    print(f"machine  {machine()}")
    print(f"date     {started_at:%Y-%m-%d %H:%M:%S %Z}")
    print(f"run      -n {args.complaints} --warmup {args.warmup} per channel, one request at "
          f"a time, --layout {args.layout}")
    print()
    print("| channel | request | n | p50 | p95 | p99 | max | req/s | filings/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for channel, (steps, requests_done, filed, wall) in results.items():
        first = True
        for step, values in steps.items():
            stats = percentiles(values)
            rates = (f"{requests_done / wall:.1f} | {filed['measured'] / wall:.1f}"
                     if first and wall else " | ")
            print(f"| {channel if first else ''} | {step} | {stats['n']} | "
                  f"{ms(stats['p50'])} | {ms(stats['p95'])} | {ms(stats['p99'])} | "
                  f"{ms(stats['max'])} | {rates} |")
            first = False
    print()
    print("latencies in ms as the client sees them; req/s and filings/s over each channel's "
          "measured phase (sequential client)")
    if failures:
        print()
        print(f"FAILED   {len(failures)} problem(s); the first {min(len(failures), 5)}:")
        for failure in failures[:5]:
            print(f"  {failure}")
    return 1 if failures or not all_routed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="latency per complaint channel (see the module docstring)")
    parser.add_argument("-n", "--complaints", type=int, default=200,
                        help="measured complaints per channel (default 200)")
    parser.add_argument("--warmup", type=int, default=20,
                        help="complaints per channel filed first and not measured (default 20)")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="one-per-service")
    parser.add_argument("--drain-timeout", type=float, default=120,
                        help="wait at most this long for every case to be routed (default 120)")
    args = parser.parse_args(argv)
    if args.complaints < 1 or args.warmup < 0:
        parser.error("-n must be positive, --warmup not negative")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
