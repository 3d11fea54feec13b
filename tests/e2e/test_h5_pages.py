"""The complainant's H5 with the real services (issue 13), over HTTP as a browser without
script would use it (tests/pages/client.py): a student files with a photo and the pledge and
finds the case in the list, by number and on its page (the photo served by the page); an
unticked pledge is refused with the reason and files nothing; a double submit files once; the
unit replies through the staff API and the student answers the 回访 on the case page; a case
filed through the WeChat text dialogue shows in the H5 of the same WeChat user, signed in
through WeChat web authorisation (a fake WeChat on loopback), and the dialogue's reply links
to the case page. Every page carries the CSP and no inline script."""
from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import JWT_SECRET, RunningSystem, free_port
from tests.e2e.test_lifecycle import HOT_WATER, Client
from tests.e2e.test_wechat_channel import AES_KEY, APP_ID, TOKEN, _content, _send, _text
from tests.pages.client import PageClient
from tests.pages.fakes import FakeWechatOAuth

pytestmark = pytest.mark.e2e

OPENID = "oUser-openid-0001"     # the WeChat channel's test user (test_wechat_channel.py)
APP_SECRET = "wx-h5-test-secret"
REDIS_URL = "redis://127.0.0.1:6379/11"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_ATTRIBUTE = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
CASE_URL = re.compile(r"/h5/cases/([0-9a-f-]{36})$")


@pytest.fixture(scope="module")
def wechat_oauth():
    with FakeWechatOAuth(APP_ID, APP_SECRET) as fake:
        yield fake


@pytest.fixture(scope="module")
def system(request, vhost_pipeline, pg_databases, tmp_path_factory, wechat_oauth):
    """One system for the module: the WeChat dialogue on, WeChat web authorisation against
    the fake, page sessions in Redis (db 11), the public address the gateway's own."""
    import redis

    from services.common.system import System

    # this module's Redis database: WeChat's remembered replies of an earlier run would
    # answer for cases that no longer exist
    redis.Redis.from_url(REDIS_URL).flushdb()
    amqp = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    databases = pg_databases.empty()
    port = free_port()
    with vhost_pipeline.get() as vhost:
        environment = {
            "JIESU_AMQP_URI": f"{amqp.scheme}://{amqp.netloc}/{vhost}",
            "JIESU_DATABASE_URL": databases.template,
            "JIESU_GATEWAY_PORT": str(port),
            "JIESU_JWT_SECRET": JWT_SECRET,
            "JIESU_OUTBOX_POLL_SECONDS": "0.2",
            "JIESU_LOG_JSON": "true",
            "JIESU_METRICS_PORT": "0",
            "JIESU_RATE_LIMIT_IDENTITY_PER_MINUTE": "0",
            "JIESU_RATE_LIMIT_IP_PER_MINUTE": "0",
            "JIESU_GATEWAY_STATE_URL": REDIS_URL,
            "JIESU_PUBLIC_BASE_URL": f"http://localhost:{port}",
            "JIESU_WECHAT_TOKEN": TOKEN, "JIESU_WECHAT_AES_KEY": AES_KEY,
            "JIESU_WECHAT_APP_ID": APP_ID, "JIESU_WECHAT_APP_SECRET": APP_SECRET,
            "JIESU_WECHAT_API_BASE": wechat_oauth.base_url,
            "JIESU_WECHAT_OAUTH_AUTHORIZE_URL": wechat_oauth.authorize_base,
            "JIESU_ATTACHMENTS_DIR": str(tmp_path_factory.mktemp("attachments")),
        }
        running = System(environment, layout=[["intake", "routing", "sla", "notify", "rating",
                                                "gateway"]],
                         log_dir=Path(tmp_path_factory.mktemp("logs")))
        try:
            running.start()
            running.wait_ready(timeout=90)
            yield RunningSystem(running, databases)
        finally:
            running.stop()


def page_client(system) -> PageClient:
    client = PageClient(f"http://localhost:{urlparse(system.url).port}")
    return client


def signed_in(system, who: str, name: str = "张三") -> PageClient:
    """The development sign-in (?dev: WeChat web authorisation is on in this system)."""
    client = page_client(system)
    client.get("/h5/login?dev")
    reply = client.post("/h5/login/dev", {"who": who, "name": name})
    assert reply.status_code == 200 and urlparse(reply.url).path == "/h5/", reply.text[:500]
    return client


def checked(reply, status: int = 200) -> str:
    """The page's text, once its status, CSP and the absence of inline script are right."""
    assert reply.status_code == status, reply.text[:800]
    assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
    page = reply.text
    assert not INLINE_SCRIPT.search(page), INLINE_SCRIPT.search(page).group(0)
    assert not EVENT_ATTRIBUTE.search(page), EVENT_ATTRIBUTE.search(page).group(0)
    assert "style=" not in page and "javascript:" not in page
    return page


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "JPEG", quality=80)
    return out.getvalue()


def filing_key(page: str) -> str:
    return re.search(r'name="filing_key" value="([^"]+)"', page).group(1)


def file_on_h5(client: PageClient, photo: bytes | None = None, **fields) -> tuple[str, str]:
    """File through the form as the page would send it; (case id, the case page's text)."""
    form = checked(client.get("/h5/file"))
    data = dict({"category": "logistics", "content": HOT_WATER, "location": "学生公寓3号楼",
                 "pledge": "1", "filing_key": filing_key(form)}, **fields)
    files = [("photos", ("hot-water.jpg", photo, "image/jpeg"))] if photo else \
        [("photos", ("", b"", "application/octet-stream"))]
    reply = client.post("/h5/file", data, files=files)
    page = checked(reply)
    found = CASE_URL.search(urlparse(reply.url).path)
    assert found, reply.url
    return found.group(1), page


def test_a_student_files_with_a_photo_and_finds_the_case_everywhere(system):
    student = signed_in(system, "s-2023001")
    assert "还没有诉求" in checked(student.get("/h5/"))
    photo = jpeg()
    case_id, page = file_on_h5(student, photo, anonymous="1", title="热水停了")
    number = re.search(r"已提交,诉求编号 (JS-\d{8}-\d{4})", page).group(1)
    assert HOT_WATER in page and "热水停了" in page and "匿名" in page
    photo_url = re.search(r'<img src="(/h5/cases/[^"]+/photos/[0-9a-f]{64})"', page).group(1)
    served = student.get(photo_url)
    assert served.status_code == 200 and served.content == photo
    assert served.headers["Content-Type"] == "image/jpeg"
    [row] = system.query("intake", "SELECT complainant_id, channel, anonymous, pledge "
                                   "FROM complaints WHERE id = :id", id=case_id)
    assert (row.complainant_id, row.channel, row.anonymous) == ("s-2023001", "app", True)
    assert "校园App网页提交前勾选确认" in row.pledge

    listing = checked(student.get("/h5/"))
    assert number in listing and f'href="/h5/cases/{case_id}"' in listing
    assert 'action="/h5/logout"' in listing
    found = student.get(f"/h5/lookup?number={number.lower()}")
    assert found.status_code == 200 and urlparse(found.url).path == f"/h5/cases/{case_id}"
    missing = checked(student.get("/h5/lookup?number=JS-20000101-0001"))
    assert "未找到" in missing
    # another student neither finds it by number nor opens it
    other = signed_in(system, "s-2023999", "路人")
    assert "未找到" in checked(other.get(f"/h5/lookup?number={number}"))
    assert other.get(f"/h5/cases/{case_id}").status_code == 404
    assert other.get(photo_url).status_code == 404


def test_an_unticked_pledge_is_refused_and_a_double_submit_files_once(system):
    student = signed_in(system, "s-2023002", "李四")
    form = checked(student.get("/h5/file"))
    key, csrf = filing_key(form), student.csrf()
    data = {"category": "logistics", "content": "图书馆三楼空调不制冷,温度太高无法自习",
            "filing_key": key}
    refused = student.post("/h5/file", data, files=[("photos", ("", b"", "text/plain"))])
    page = checked(refused, 400)
    assert "请勾选“如实反映”承诺后再提交" in page and "图书馆三楼空调不制冷" in page
    assert system.query("intake", "SELECT id FROM complaints WHERE complainant_id = "
                                  "'s-2023002'") == []
    first = student.post("/h5/file", dict(data, pledge="1"), csrf,
                         files=[("photos", ("", b"", "text/plain"))])
    again = student.post("/h5/file", dict(data, pledge="1"), csrf,
                         files=[("photos", ("", b"", "text/plain"))])
    assert first.status_code == again.status_code == 200 and first.url == again.url
    assert len(system.query("intake", "SELECT id FROM complaints WHERE complainant_id = "
                                      "'s-2023002'")) == 1
    bad_photo = student.post("/h5/file", dict(data, pledge="1", filing_key="another-key-01"),
                             csrf, files=[("photos", ("x.jpg", b"<html>no photo</html>", "image/jpeg"))])
    assert "不是支持的格式" in checked(bad_photo, 400)


def test_the_student_answers_the_callback_on_the_case_page_once_replied(system):
    staff = Client(system)
    student = signed_in(system, "s-2023001")
    case_id, page = file_on_h5(student)
    assert "回访评价" not in page
    staff.wait_status(case_id, "assigned")
    staff.handle_and_reply(case_id)
    page = checked(student.get(f"/h5/cases/{case_id}"))
    assert "已更换热水器,恢复供水" in page and "已与诉求人沟通维修安排" in page
    assert "后勤" in page and 'id="rating-form"' in page
    assert re.search(r'class="step step-current"[^>]*><span class="step__dot"></span>'
                     r'<span class="step__label">评价', page)
    missing = checked(student.post(f"/h5/cases/{case_id}/rating", {"level": "dissatisfied"}),
                      400)
    assert "是否与您联系过" in missing
    rated = student.post(f"/h5/cases/{case_id}/rating", {
        "contacted": "1", "solved": "0", "level": "dissatisfied", "comment": "热水还是时有时无"})
    page = checked(rated)
    assert urlparse(rated.url).path == f"/h5/cases/{case_id}"
    assert "感谢您的评价(不满意)" in page and "发回重办" in page
    staff.wait_status(case_id, "redo")
    assert "回访评价" not in checked(student.get(f"/h5/cases/{case_id}"))


def test_a_case_filed_in_the_wechat_dialogue_shows_in_the_h5_after_wechat_sign_in(
        system, wechat_oauth):
    assert "类别" in _content(_send(system, _text("学生公寓3号楼热水已经停了两天,请尽快维修", 5001)))
    assert "如实反映" in _content(_send(system, _text("2", 5002)))
    filed = _content(_send(system, _text("1", 5003)))
    number = re.search(r"JS-\d{8}-\d{4}", filed).group(0)
    [row] = system.query("intake", "SELECT id FROM complaints WHERE number = :n", n=number)
    port = urlparse(system.url).port
    # the reply links to the H5's case page by default (public_base_url, no wechat_case_link)
    assert f'<a href="http://localhost:{port}/h5/cases/{row.id}">' in filed

    wechat_oauth.next_openid = OPENID
    user = page_client(system)
    landed = user.get("/h5/")      # -> /h5/login -> WeChat -> /h5/oauth -> /h5/
    listing = checked(landed)
    assert urlparse(landed.url).path == "/h5/" and number in listing
    assert any(r["path"] == "/sns/oauth2/access_token" for r in wechat_oauth.requests)
    page = checked(user.get(f"/h5/cases/{row.id}"))
    assert number in page and "热水" in page
    # filing on the page is the same person, on the WeChat channel
    case_id, _ = file_on_h5(user, content="宿舍楼下路灯坏了,晚上很黑不安全")
    [mine] = system.query("intake", "SELECT complainant_id, channel FROM complaints "
                                    "WHERE id = :id", id=case_id)
    assert (mine.complainant_id, mine.channel) == (f"wechat:{OPENID}", "wechat")
    # logout ends the session: the next page asks WeChat again (who, now, says nobody)
    wechat_oauth.next_openid = None
    out = user.post("/h5/logout", {}, user.csrf(user.get("/h5/")),
                    allow_redirects=False)
    assert out.status_code == 303 and out.headers["Location"] == "/h5/login"
    again = user.get("/h5/")
    assert again.status_code == 400 and urlparse(again.url).path == "/connect/oauth2/authorize"
