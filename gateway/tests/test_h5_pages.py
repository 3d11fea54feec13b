"""The complainant's H5 routes on their own (gateway/pages/h5.py): a GatewayService worker
(nameko's worker_factory) with intake and rating replaced by fakes that record what they are
asked, page sessions in memory, photos stored under tmp_path. The pages with the real
services are tests/e2e/test_h5_pages.py."""
from __future__ import annotations

import io
import re
import struct
import zlib
from types import SimpleNamespace

import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.attachments import AttachmentStore
from gateway.limits import FilingLimits
from gateway.pages import web
from gateway.pages.h5 import PLEDGE_MISSING, PLEDGES, progress
from gateway.service import GatewayService
from services.common.errors import Conflict, NotFound
from services.common.settings import Settings

CASE_ID = "5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"
WECHAT_USER = {"id": "wechat:oStudent0001", "name": None, "roles": ["complainant"],
               "unit": None, "college": None, "unit_name": None}
HOT_WATER = "学生公寓3号楼热水已经停了两天,洗澡很不方便"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_ATTRIBUTE = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def tiny_png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


class Fake:
    """An RPC proxy's stand-in: records (method, args); answers `answers[method]` (called
    with the arguments when callable, raised when an exception)."""

    def __init__(self, **answers):
        self.answers, self.calls = answers, []

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args):
            self.calls.append((method, args))
            answer = self.answers.get(method)
            if callable(answer) and not isinstance(answer, type):
                answer = answer(*args)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return call


def case(status="in_progress", **extra) -> dict:
    base = {"id": CASE_ID, "number": "JS-20261124-0001", "status": status,
            "category": "logistics", "category_label": "后勤保障", "title": None,
            "content": HOT_WATER, "location": None, "contact_phone": "139****5678",
            "anonymous": False, "received_at": "2026-11-24T01:00:00+00:00",
            "assigned_unit": {"id": "logistics", "name": "后勤管理处"},
            "handler": {"id": "u-hqc-1", "name": "冯涛"},
            "deadline": "2099-11-25T09:00:00+00:00", "time_left_seconds": 3600,
            "sla_state": "normal", "reply_outcome": None, "reply_text": None,
            "instruction": None, "timetable": None, "attachments": [], "communications": [],
            "timeline": [{"at": "2026-11-24T01:00:00+00:00", "kind": "received",
                          "text": "诉求已受理,编号 JS-20261124-0001", "actor": "张三"}]}
    base.update(extra)
    return base


@pytest.fixture
def h5(tmp_path):
    """A worker and a signed-in WeChat user: (worker, send(method, path, **builder_args))."""
    def make(intake=None, rating=None, channel="wechat"):
        settings = Settings(log_json=False, attachments_dir=str(tmp_path / "attachments"))
        worker = worker_factory(
            GatewayService, intake=intake or Fake(), rating=rating or Fake(),
            settings=settings, page_sessions=web.PageSessions(600, 3600),
            attachments=AttachmentStore(tmp_path / "attachments"),
            limits=FilingLimits(0, 0))
        session = worker.page_sessions.create(web.H5, dict(WECHAT_USER), channel=channel)

        def send(handler, method, path, data=None, csrf=True, **values):
            if method == "POST" and csrf:
                data = dict(data or {}, csrf_token=session["csrf"])
            builder = EnvironBuilder(method=method, path=path, data=data,
                                     base_url="https://h5.example.edu.cn",
                                     headers={"Cookie": f"jiesu_h5={session['id']}"})
            return getattr(worker, handler)(Request(builder.get_environ()), **values)
        def flashes():
            return [f["text"] for f in worker.page_sessions._read(session["id"])["flash"]]
        return SimpleNamespace(worker=worker, send=send, session=session, flashes=flashes)
    return make


def text_of(response) -> str:
    return response.get_data(as_text=True)


def no_inline_script(page: str) -> None:
    assert not INLINE_SCRIPT.search(page), INLINE_SCRIPT.search(page).group(0)
    assert not EVENT_ATTRIBUTE.search(page), EVENT_ATTRIBUTE.search(page).group(0)
    assert "style=" not in page and "javascript:" not in page


def filing_form(**values) -> dict:
    return dict({"category": "logistics", "content": HOT_WATER, "title": "", "location": "",
                 "contact_phone": "", "pledge": "1", "filing_key": "key-0123456789"}, **values)


def test_the_list_shows_the_persons_cases_and_the_empty_state(h5):
    empty = h5(Fake(list_cases=[]))
    page = empty.send("h5_home", "GET", "/h5/")
    assert page.status_code == 200 and "还没有诉求" in text_of(page)
    assert 'href="/h5/file"' in text_of(page) and 'action="/h5/logout"' in text_of(page)
    assert page.headers["Content-Security-Policy"] == web.CONTENT_SECURITY_POLICY
    no_inline_script(text_of(page))
    method, (viewer, query) = empty.worker.intake.calls[0]
    assert method == "list_cases" and viewer["id"] == WECHAT_USER["id"]
    assert viewer["roles"] == ["complainant"] and query["view"] == "all"

    one = h5(Fake(list_cases=[case()]))
    page = text_of(one.send("h5_home", "GET", "/h5/"))
    assert "JS-20261124-0001" in page and "办理中" in page and "后勤保障" in page
    assert f'href="/h5/cases/{CASE_ID}"' in page and "剩余" in page


def test_filing_passes_the_body_the_wechat_channel_a_key_and_the_pledge(h5):
    intake = Fake(file_complaint={"id": CASE_ID, "number": "JS-20261124-0001",
                                  "status": "received"}, add_attachment={})
    h = h5(intake)
    form = h.send("h5_file_form", "GET", "/h5/file")
    assert form.status_code == 200
    page = text_of(form)
    no_inline_script(page)
    assert 'enctype="multipart/form-data"' in page and 'name="filing_key"' in page
    assert page.count('type="radio"') == 10 and "宿舍水电" in page
    assert 'data-counter="content-count"' in page and 'maxlength="5000"' in page
    assert re.search(r'<script src="/static/js/h5\.js\?v=\w+" defer>', page)
    for field in re.findall(r'<(?:input|textarea|select)[^>]*\bid="([^"]+)"', page):
        assert f'for="{field}"' in page, field

    answer = h.send("h5_file", "POST", "/h5/file", filing_form(
        anonymous="1", photos=[(io.BytesIO(tiny_png()), "a.png")]))
    assert answer.status_code == 303 and answer.headers["Location"] == f"/h5/cases/{CASE_ID}"
    (_, (body, complainant, channel, key, pledge)), attached = intake.calls[0], intake.calls[1]
    assert body == {"category": "logistics", "content": HOT_WATER, "title": None,
                    "location": None, "contact_phone": None, "anonymous": True}
    assert complainant["id"] == WECHAT_USER["id"] and channel == "wechat"
    assert key == "h5-key-0123456789" and pledge == PLEDGES["wechat"]
    assert attached[0] == "add_attachment" and attached[1][2]["media_type"] == "image/png"
    assert h.flashes()[0] == "已提交,诉求编号 JS-20261124-0001"


def test_an_unticked_pledge_or_bad_fields_re_render_the_form_with_the_typed_values(h5):
    intake = Fake()
    h = h5(intake, channel="app")
    answer = h.send("h5_file", "POST", "/h5/file", filing_form(pledge="", title="楼道灯坏了",
                                                               contact_phone="12345"))
    page = text_of(answer)
    assert answer.status_code == 400 and PLEDGE_MISSING in page
    assert "有效的手机号" in page and 'value="楼道灯坏了"' in page and HOT_WATER in page
    assert 'value="logistics" checked' in page
    assert intake.calls == []        # nothing filed

    answer = h.send("h5_file", "POST", "/h5/file", filing_form(
        photos=[(io.BytesIO(b"<html>not a photo</html>"), "x.jpg")]))
    assert answer.status_code == 400 and "不是支持的格式" in text_of(answer)
    assert intake.calls == []


def test_without_the_csrf_token_nothing_is_filed(h5):
    intake = Fake()
    h = h5(intake)
    answer = h.send("h5_file", "POST", "/h5/file", filing_form(), csrf=False)
    assert answer.status_code == 403 and intake.calls == []


def test_the_case_page_shows_progress_reply_and_the_rating_form_when_replied(h5):
    replied = case("replied", reply_outcome="solved", reply_text="已更换热水器,恢复供水",
                   time_left_seconds=None,
                   communications=[{"kind": "phone", "at": "2026-11-24T02:00:00+00:00",
                                    "with_whom": "诉求人", "summary": "已电话沟通维修安排",
                                    "round": 0}],
                   attachments=[{"sha256": "a" * 64, "media_type": "image/png",
                                 "kind": "photo", "size": 10}])
    h = h5(Fake(get_complaint=replied))
    page = h.send("h5_case", "GET", f"/h5/cases/{CASE_ID}", complaint_id=CASE_ID)
    text = text_of(page)
    assert page.status_code == 200
    no_inline_script(text)
    assert "已更换热水器" in text and "已电话沟通维修安排" in text and "后勤管理处" in text
    assert 'action="/h5/cases/%s/rating"' % CASE_ID in text and "满意" in text
    assert f'src="/h5/cases/{CASE_ID}/photos/{"a" * 64}"' in text
    assert [s["state"] for s in progress(replied)] == ["done"] * 5 + ["current"]

    assert "回访评价" not in text_of(h5(Fake(get_complaint=case())).send(
        "h5_case", "GET", "/h5/", complaint_id=CASE_ID))


@pytest.mark.parametrize("status, steps_done", [
    ("received", 1), ("assigned", 2), ("signed", 3), ("in_progress", 4), ("replied", 5),
    ("closed", 6), ("redo", 1)])
def test_the_progress_steps_follow_the_status(status, steps_done):
    steps = progress(case(status))
    assert [s["label"] for s in steps] == ["受理", "派单", "签收", "办理", "答复", "评价"]
    assert sum(s["state"] == "done" for s in steps) == steps_done


def test_a_case_of_someone_else_is_not_found(h5):
    h = h5(Fake(get_complaint=NotFound("complaint not found")))
    page = h.send("h5_case", "GET", f"/h5/cases/{CASE_ID}", complaint_id=CASE_ID)
    assert page.status_code == 404 and "未找到" in text_of(page)


def test_rating_passes_the_answers_and_says_what_comes_next(h5):
    rating = Fake(rate={"decision": "order_redo", "level_label": "不满意"})
    h = h5(Fake(get_complaint=case("replied")), rating)
    answer = h.send("h5_rate", "POST", f"/h5/cases/{CASE_ID}/rating",
                    {"contacted": "1", "solved": "0", "level": "dissatisfied",
                     "comment": " 还是没有热水 "}, complaint_id=CASE_ID)
    assert answer.status_code == 303
    method, (complaint_id, rater, answers) = rating.calls[0]
    assert (method, complaint_id, rater["id"]) == ("rate", CASE_ID, WECHAT_USER["id"])
    assert answers == {"level": "dissatisfied", "contacted": True, "solved": False,
                       "comment": "还是没有热水"}
    assert "发回重办" in h.flashes()[0]

    missing = h.send("h5_rate", "POST", f"/h5/cases/{CASE_ID}/rating", {"level": "satisfied"},
                     complaint_id=CASE_ID)
    assert missing.status_code == 400 and "是否与您联系过" in text_of(missing)
    assert len(rating.calls) == 1

    done = h5(Fake(get_complaint=case("closed")), Fake(rate=Conflict("already rated")))
    answer = done.send("h5_rate", "POST", f"/h5/cases/{CASE_ID}/rating",
                       {"contacted": "1", "solved": "1", "level": "satisfied"},
                       complaint_id=CASE_ID)
    assert answer.status_code == 303 and "不在待评价状态" in done.flashes()[0]


def test_lookup_by_number_finds_only_the_persons_own_cases(h5):
    h = h5(Fake(list_cases=[case()]))
    found = h.send("h5_lookup", "GET", "/h5/lookup?number=js-20261124-0001")
    assert found.status_code == 303 and found.headers["Location"] == f"/h5/cases/{CASE_ID}"
    other = h.send("h5_lookup", "GET", "/h5/lookup?number=JS-20261124-0002")
    assert other.status_code == 200 and "未找到" in text_of(other)
    form = h.send("h5_lookup", "GET", "/h5/lookup")
    assert 'name="number"' in text_of(form) and "未找到" not in text_of(form)


@pytest.mark.parametrize("settings, link", [
    ({}, ""),
    ({"public_base_url": "https://jiesu.example.edu.cn/"},
     f'<a href="https://jiesu.example.edu.cn/h5/cases/{CASE_ID}">'),
    ({"public_base_url": "https://jiesu.example.edu.cn", "wechat_case_link": "https://m.x/c/"},
     f'<a href="https://m.x/c/{CASE_ID}">')])
def test_wechat_replies_link_the_h5_case_page_by_default(settings, link):
    worker = worker_factory(GatewayService, settings=Settings(log_json=False, **settings))
    answer = worker._wechat_link({"id": CASE_ID})
    assert (link in answer) if link else answer == ""
