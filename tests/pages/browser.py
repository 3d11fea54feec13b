"""A real Chromium for the page tests, driven by Playwright in a separate, plain Python process.

Why a separate process: the tests run under `nameko test`, which monkeypatches the whole process
with eventlet. Playwright's sync API drives pages there, but its shutdown never returns (it waits
for the Node.js driver to exit through asyncio's child watcher, which eventlet's green threads
and pipes never wake), and its greenlets share the hub with the system under test. The driver
process below imports neither eventlet nor the project; the test process talks to it over a
pipe of JSON lines, and the pipe is green, so servers the test runs in-process keep answering
while the browser waits for them.

Usage (see tests/pages/conftest.py for the `browser` fixture):

    page = browser.mobile().new_page()         # 375x667, touch, WeChat's built-in browser
    page.goto(url)
    page.get_by_label("内容").fill("…")
    page.get_by_role("button", name="提交").click()
    browser.expect(page.locator("#status")).to_have_text("已受理")   # waits, never sleeps
    browser.shot(page, "h5-filed")             # <tmp_path>/screenshots/01-h5-filed.png

Every Playwright method and property of Page, BrowserContext, Locator, Response… is reachable
through the proxies: arguments and results must be JSON values, paths, or other proxies (no
Python callbacks, so no page.on/route handlers; the driver records console errors itself,
see `console_errors`). Playwright's own auto-waiting and `expect` are the ways to wait.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("JIESU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage"]
# Long enough for a page that waits on the bus on a busy 2-core CI machine; a test that needs a
# different one passes timeout= to the method or to the context.
DEFAULT_TIMEOUT_MS = 15_000

# WeChat's built-in browser on Android (XWEB, a Chromium): the engine the tests run is the same.
WECHAT_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
    "MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin "
    "NetType/WIFI Language/zh_CN ABI/arm64")

CONTEXTS = {
    "mobile": dict(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True,
                   device_scale_factor=2, user_agent=WECHAT_USER_AGENT),
    "desktop": dict(viewport={"width": 1366, "height": 900}),
    "tablet": dict(viewport={"width": 1024, "height": 768}, has_touch=True),
}
COMMON_CONTEXT = dict(locale="zh-CN", timezone_id="Asia/Shanghai")


def chromium_missing_reason() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return (f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium; "
                "`make test` does it when it runs as root)")
    return None


class BrowserError(Exception):
    """Playwright raised in the driver; `kind` is its exception class name."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class BrowserTimeout(BrowserError):
    pass


# --- the test process's side ---------------------------------------------------------------

class Remote:
    """A Playwright object living in the driver. Attribute reads ask the driver once per type
    and name whether it is a method (then calls go over the pipe) or a property (its value)."""

    def __init__(self, driver: "Driver", handle: int, kind: str):
        object.__setattr__(self, "_driver", driver)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_kind", kind)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        driver = self._driver
        key = (self._kind, name)
        if driver.methods.get(key) is not True:
            answer = driver.request("getattr", id=self._handle, name=name)
            if not answer["callable"]:
                return answer["value"]
            driver.methods[key] = True

        def call(*args, **kwargs):
            return driver.request("call", id=self._handle, name=name, args=list(args),
                                  kwargs=kwargs)
        call.__name__ = name
        return call

    def __setattr__(self, name, value):
        raise AttributeError("remote Playwright objects are read-only here")

    def __repr__(self) -> str:
        return f"<remote {self._kind} #{self._handle}>"


class Driver:
    """The driver process and the pipe to it; one per test session."""

    def __init__(self):
        reason = chromium_missing_reason()
        if reason:
            raise RuntimeError(reason)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYWRIGHT_")}
        env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"      # never a browser download
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-u", __file__, "--driver"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, cwd=os.path.dirname(__file__))
        self.methods: dict[tuple[str, str], bool] = {}
        self.lock = threading.Lock()       # green under eventlet: one request on the pipe at once
        self.seq = itertools.count(1)
        self.browser = self.request("launch", executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    # JSON both ways; proxies travel as {"__handle__": id}, bytes as base64.
    def encode(self, value: Any) -> Any:
        if isinstance(value, Remote):
            return {"__handle__": value._handle}
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, dict):
            return {k: self.encode(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.encode(v) for v in value]
        return value

    def decode(self, value: Any) -> Any:
        if isinstance(value, dict):
            if "__handle__" in value:
                return Remote(self, value["__handle__"], value["__type__"])
            if "__bytes__" in value:
                return base64.b64decode(value["__bytes__"])
            return {k: self.decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        return value

    def request(self, op: str, **fields) -> Any:
        message = dict(fields, op=op, seq=next(self.seq))
        line = json.dumps(self.encode(message), ensure_ascii=False).encode() + b"\n"
        with self.lock:
            if self.proc.poll() is not None:
                raise BrowserError("DriverGone", f"the browser driver exited ({self.proc.returncode})")
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
            # A test stopped in the middle of a call (pytest-timeout) leaves its answer in the
            # pipe: skip answers to earlier requests.
            while True:
                reply = self.proc.stdout.readline()
                if not reply:
                    raise BrowserError("DriverGone",
                                       "the browser driver closed its pipe (see its stderr)")
                answer = json.loads(reply)
                if answer.get("seq") == message["seq"]:
                    break
        if "error" in answer:
            kind, text = answer["error"]["type"], answer["error"]["message"]
            if kind == "AssertionError":
                raise AssertionError(text)
            raise (BrowserTimeout if kind == "TimeoutError" else BrowserError)(kind, text)
        return self.decode(answer["result"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request("quit")
            except (BrowserError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class BrowserSession:
    """What a test gets: contexts of the right shape, Playwright's `expect`, screenshots into the
    test's output folder. Contexts are closed and the driver's handles released at the end."""

    def __init__(self, driver: Driver, screenshots: Path):
        self.driver = driver
        self.screenshots = Path(screenshots)
        self.contexts: list[Remote] = []
        self.shots = 0
        self.mark = driver.request("mark")

    def context(self, kind: str = "desktop", timeout_ms: int = DEFAULT_TIMEOUT_MS,
                **options) -> Remote:
        """A fresh browser context (own cookies): kind is mobile, desktop or tablet; options go
        to Playwright's new_context (e.g. base_url, extra_http_headers, geolocation)."""
        merged = dict(COMMON_CONTEXT, **CONTEXTS[kind], **options)
        ctx = self.driver.request("new_context", options=merged, timeout_ms=timeout_ms)
        self.contexts.append(ctx)
        return ctx

    def mobile(self, **options) -> Remote:
        return self.context("mobile", **options)

    def desktop(self, **options) -> Remote:
        return self.context("desktop", **options)

    def tablet(self, **options) -> Remote:
        return self.context("tablet", **options)

    def expect(self, target: Remote, message: str | None = None) -> Remote:
        """Playwright's retrying assertions, e.g. expect(locator).to_have_text("…")."""
        return self.driver.request("expect", target=target, message=message)

    def shot(self, page: Remote, name: str, full_page: bool = True) -> Path:
        """Save a numbered screenshot of the page under the test's output folder."""
        self.shots += 1
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{self.shots:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    def console_errors(self, page: Remote) -> list[str]:
        """Console errors and uncaught exceptions of the page so far: a CSP refusal of an
        inline script or style shows up here."""
        return self.driver.request("console_errors", page=page)

    def close(self) -> None:
        for ctx in self.contexts:
            try:
                ctx.close()
            except BrowserError:
                pass
        self.contexts.clear()
        self.driver.request("release", since=self.mark)


# --- the driver process's side (plain Python, no eventlet) ---------------------------------

def _serve(commands, replies) -> None:
    from playwright.sync_api import expect, sync_playwright

    handles: dict[int, Any] = {}
    errors: dict[int, list[str]] = {}
    ids = itertools.count(1)

    def handle_of(obj) -> dict:
        handle = next(ids)
        handles[handle] = obj
        return {"__handle__": handle, "__type__": type(obj).__name__}

    def encode(value):
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, (bytes, bytearray)):
            return {"__bytes__": base64.b64encode(bytes(value)).decode()}
        if isinstance(value, dict):
            return {str(k): encode(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if type(value).__module__.startswith("playwright."):
            return handle_of(value)
        return str(value)

    def decode(value):
        if isinstance(value, dict):
            if "__handle__" in value:
                return handles[value["__handle__"]]
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    def watch(page) -> None:
        log = errors.setdefault(id(page), [])
        page.on("console", lambda m: log.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: log.append(f"uncaught: {exc}"))

    with sync_playwright() as pw:
        browser = None
        for line in commands:
            msg = json.loads(line)
            op = msg["op"]
            try:
                if op == "launch":
                    browser = pw.chromium.launch(executable_path=msg["executable_path"],
                                                 args=msg["args"])
                    result = handle_of(browser)
                elif op == "new_context":
                    ctx = browser.new_context(**msg["options"])
                    ctx.set_default_timeout(msg["timeout_ms"])
                    ctx.on("page", watch)
                    result = handle_of(ctx)
                elif op == "getattr":
                    value = getattr(handles[msg["id"]], msg["name"])
                    result = ({"callable": True} if callable(value)
                              else {"callable": False, "value": encode(value)})
                elif op == "call":
                    method = getattr(handles[msg["id"]], msg["name"])
                    result = encode(method(*decode(msg["args"]), **decode(msg["kwargs"])))
                elif op == "expect":
                    result = handle_of(expect(decode(msg["target"]), msg.get("message")))
                elif op == "console_errors":
                    result = list(errors.get(id(decode(msg["page"])), []))
                elif op == "mark":
                    result = next(ids)
                elif op == "release":
                    for handle in [h for h in handles if h >= msg["since"]]:
                        del handles[handle]
                    result = None
                elif op == "quit":
                    replies.write(json.dumps({"result": None, "seq": msg.get("seq")}) + "\n")
                    replies.flush()
                    break
                else:
                    raise ValueError(f"unknown op {op}")
                answer = {"result": result}
            except Exception as exc:      # all of Playwright's errors go back to the test
                answer = {"error": {"type": type(exc).__name__, "message": str(exc)}}
            answer["seq"] = msg.get("seq")
            replies.write(json.dumps(answer, ensure_ascii=False) + "\n")
            replies.flush()
        if browser is not None:
            browser.close()


def _driver_main() -> None:
    # The pipe to the test is the original stdout; anything Playwright or Chromium prints goes
    # to stderr so that it cannot corrupt the JSON lines.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _serve(sys.stdin, replies)


if __name__ == "__main__" and sys.argv[1:] == ["--driver"]:
    _driver_main()
