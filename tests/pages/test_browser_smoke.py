"""The browser plumbing itself, against a tiny site on a loopback HTTP server run by the test
(in this process: under `nameko test` its thread is a green thread, so these tests also show
that the site keeps answering while the test waits on the browser)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.pages.browser import BrowserTimeout, chromium_missing_reason

pytestmark = pytest.mark.skipif(chromium_missing_reason() is not None,
                                reason=chromium_missing_reason() or "")

CSP = "default-src 'self'; img-src 'self' data:"
VENDOR = Path(__file__).resolve().parents[2] / "gateway" / "pages" / "static" / "vendor"
VERSIONS = dict(line.split("=", 1) for line in (VENDOR / "VERSIONS").read_text().split())
# htmx 2 injects an inline <style> for its indicators unless told not to, which the CSP refuses.
HTMX = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<meta name="htmx-config" content='{{"includeIndicatorStyles": false, "allowEval": false}}'>
<link rel="stylesheet" href="/vendor/weui-{VERSIONS['weui']}.min.css">
<script src="/vendor/htmx-{VERSIONS['htmx']}.min.js" defer></script></head>
<body><div class="weui-cells"><div class="weui-cell"><i class="weui-icon-success"></i>
<span id="slot">空</span></div></div>
<button class="weui-btn weui-btn_primary" hx-get="/fragment" hx-target="#slot">加载</button>
</body></html>"""
FORM = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>反映</title></head>
<body><form method="post" action="/submit">
<label for="content">内容</label><textarea id="content" name="content"></textarea>
<label><input type="checkbox" name="pledge" value="1"> 如实反映</label>
<button type="submit">提交</button></form></body></html>"""
LIVE = """<!doctype html><html><head><meta charset="utf-8"><title>live</title>
<script src="/live.js" defer></script></head><body>受理 <span id="count">0</span>
<script>document.title = "inline ran";</script></body></html>"""
# Polls like a live view would; the test's `expect` waits for the change, no sleep anywhere.
LIVE_JS = """setInterval(function () {
  fetch('/count').then(function (r) { return r.text(); })
    .then(function (t) { document.getElementById('count').textContent = t; });
}, 100);"""


class Site(BaseHTTPRequestHandler):
    count = 0

    def send(self, body: str, ctype: str = "text/html; charset=utf-8", cookies=()):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", CSP)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/form":
            self.send(FORM)
        elif self.path == "/live":
            self.send(LIVE)
        elif self.path == "/live.js":
            self.send(LIVE_JS, "text/javascript")
        elif self.path == "/htmx":
            self.send(HTMX)
        elif self.path == "/fragment":
            self.send("<b id=loaded>已加载</b>")
        elif self.path.startswith("/vendor/"):
            name = self.path.removeprefix("/vendor/")
            ctype = "text/css" if name.endswith(".css") else "text/javascript"
            self.send((VENDOR / name).read_text(), ctype)
        elif self.path == "/count":
            self.send(str(Site.count), "text/plain")
        elif self.path == "/set-cookie":
            self.send("set", cookies=["sid=abc; Secure; HttpOnly; SameSite=Lax; Path=/"])
        elif self.path == "/echo-cookie":
            self.send(f"<p id=cookie>{self.headers.get('Cookie', '')}</p>")
        else:
            self.send_error(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = parse_qs(self.rfile.read(length).decode())
        pledge = "已承诺" if form.get("pledge") == ["1"] else "未承诺"
        self.send(f"<p id=result>收到：{form['content'][0]}（{pledge}）</p>")

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    Site.count = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_phone_in_wechat_fills_and_submits_a_form(browser, site):
    page = browser.mobile().new_page()
    page.goto(f"http://127.0.0.1:{site}/form")
    assert page.viewport_size == {"width": 375, "height": 667}
    assert "MicroMessenger" in page.evaluate("navigator.userAgent")
    page.get_by_label("内容").fill("宿舍热水不热")
    page.get_by_label("如实反映").check()
    browser.shot(page, "form-filled")
    page.get_by_role("button", name="提交").click()
    browser.expect(page.locator("#result")).to_have_text("收到：宿舍热水不热（已承诺）")
    shot = browser.shot(page, "form-submitted")
    assert shot.parent.name == "screenshots" and shot.name == "02-form-submitted.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_desktop_page_updates_itself_and_a_refused_inline_script_is_reported(browser, site):
    page = browser.desktop().new_page()
    page.goto(f"http://127.0.0.1:{site}/live")
    assert page.viewport_size == {"width": 1366, "height": 900}
    browser.expect(page.locator("#count")).to_have_text("0")
    Site.count = 7
    browser.expect(page.locator("#count")).to_have_text("7")   # no reload
    browser.shot(page, "live")
    # The CSP refused the inline script: the title is untouched and the console says so.
    assert page.title() == "live"
    assert any("Content Security Policy" in line for line in browser.console_errors(page))


def test_a_failed_wait_raises_in_the_test_with_playwrights_message(browser, site):
    page = browser.desktop().new_page()
    page.goto(f"http://127.0.0.1:{site}/form")
    with pytest.raises(AssertionError, match="to_have_text|Locator expected"):
        browser.expect(page.locator("button")).to_have_text("不存在", timeout=300)
    with pytest.raises(BrowserTimeout):
        page.click("#missing", timeout=300)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_chromium_keeps_a_secure_cookie_set_over_plain_http_on_loopback(browser, site, host):
    """The pages' session cookie is Secure; the test system serves plain HTTP on loopback, which
    Chromium counts as a secure origin under both names."""
    ctx = browser.desktop()
    page = ctx.new_page()
    page.goto(f"http://{host}:{site}/set-cookie")
    assert [(c["name"], c["secure"], c["httpOnly"]) for c in ctx.cookies()] == [
        ("sid", True, True)]
    page.goto(f"http://{host}:{site}/echo-cookie")
    browser.expect(page.locator("#cookie")).to_have_text("sid=abc")


def test_the_vendored_htmx_and_weui_run_under_the_strict_csp(browser, site):
    page = browser.mobile().new_page()
    page.goto(f"http://127.0.0.1:{site}/htmx")
    assert page.evaluate("htmx.version") == VERSIONS["htmx"]
    page.get_by_role("button", name="加载").click()
    browser.expect(page.locator("#slot #loaded")).to_have_text("已加载")
    # WeUI's icons are data: images, allowed by img-src; its button style applied.
    assert page.locator(".weui-btn").evaluate("e => getComputedStyle(e).display") == "block"
    browser.shot(page, "htmx-weui")
    assert browser.console_errors(page) == []
