"""The SMS 回访 page (/r/<token>) on its own: the gateway serving real HTTP with intake and
rating replaced by fakes. The token is the credential (signed, expiring, for one case and
complainant); the page asks the three questions, escapes what it shows, rates through
rating, and answers each refusal with a clear page."""
from __future__ import annotations

import time

import pytest
import requests
from nameko.testing.services import replace_dependencies

from gateway.service import GatewayService
from gateway.tests.test_routes import FakeService
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.rating_link import sign
from services.common.settings import Settings, nameko_config

SECRET = "rating-page-test-secret"
CASE_ID = "5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"
CALLER = "hotline:3f2a9c"
REPLIED = {"id": CASE_ID, "number": "JS-20261124-0007", "status": "replied",
           "unit_name": "后勤管理处", "reply_text": "已更换<b>热水器</b>,恢复供水"}
ANSWERS = {"contacted": "1", "solved": "0", "level": "basically", "comment": " 配件还没到 "}


@pytest.fixture
def page(container_factory, web_config, tmp_path):
    def start(intake=None, rating=None, secret=SECRET):
        settings = Settings(jwt_secret="x" * 32, log_json=False, rating_link_secret=secret,
                            attachments_dir=str(tmp_path / "attachments"))
        container = container_factory(GatewayService, nameko_config(
            settings, WEB_SERVER_ADDRESS=web_config["WEB_SERVER_ADDRESS"]))
        intake = intake or FakeService(get_complaint=REPLIED)
        rating = rating or FakeService(rate={"level_label": "基本满意", "decision": "close"})
        replace_dependencies(container, intake=intake, sla=FakeService(), rating=rating)
        container.start()
        return f"http://{web_config['WEB_SERVER_ADDRESS']}", intake, rating
    return start


def token(expires_in=3600, complaint_id=CASE_ID, who=CALLER, secret=SECRET):
    return sign(secret, complaint_id, who, int(time.time()) + expires_in)


def test_the_page_asks_the_three_questions_for_the_case_of_the_token(page):
    url, intake, _ = page()
    answer = requests.get(f"{url}/r/{token()}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    html = answer.text
    for words in ("是否与您联系", "是否已解决", "是否满意", "JS-20261124-0007", "后勤管理处",
                  'name="contacted"', 'name="solved"', 'name="level"', 'name="comment"'):
        assert words in html, words
    assert "<b>" not in html and "&lt;b&gt;热水器" in html           # escaped
    assert "<script" not in html and "http" not in html.split("<body>")[1]   # no assets
    assert intake.calls == [("get_complaint", (CASE_ID, {
        "id": CALLER, "name": None, "roles": ["complainant"]}), {})]
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers


def test_posting_the_form_rates_once_through_rating(page):
    url, _, rating = page()
    answer = requests.post(f"{url}/r/{token()}", data=ANSWERS)
    assert answer.status_code == 200 and "感谢您的评价" in answer.text
    assert "基本满意" in answer.text and "已办结" in answer.text
    assert rating.calls == [("rate", (CASE_ID, {"id": CALLER, "name": None,
                                                "roles": ["complainant"]},
                                      {"level": "basically", "contacted": True, "solved": False,
                                       "comment": "配件还没到"}), {})]


def test_a_second_rating_is_told_there_is_nothing_to_rate(page):
    url, _, rating = page(rating=FakeService(rate=Conflict({
        "code": "not_open_for_rating", "message": "该诉求当前不在待评价状态"})))
    answer = requests.post(f"{url}/r/{token()}", data=ANSWERS)
    assert answer.status_code == 409 and "不在待评价状态" in answer.text


@pytest.mark.parametrize("status", ["assigned", "closed"])
def test_a_case_not_awaiting_its_rating_shows_no_form(page, status):
    url, _, rating = page(intake=FakeService(get_complaint=dict(REPLIED, status=status)))
    answer = requests.get(f"{url}/r/{token()}")
    assert answer.status_code == 409 and "<form" not in answer.text
    assert requests.post(f"{url}/r/{token()}", data=ANSWERS).status_code == 409
    assert rating.calls == []


@pytest.mark.parametrize("bad", [
    token(secret="someone-else"), token()[:-2], "nonsense", "a.b", "%00", "x" * 300])
def test_a_bad_token_is_a_clear_404_and_asks_nothing(page, bad):
    url, intake, rating = page()
    for answer in (requests.get(f"{url}/r/{bad}"), requests.post(f"{url}/r/{bad}", data=ANSWERS)):
        assert answer.status_code == 404
        # a page, as documented, even for what no id holds (was the API's JSON 404)
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "链接无效" in answer.text
    assert intake.calls == [] and rating.calls == []


def test_a_link_longer_than_any_id_still_opens_its_page(page):
    """A complainant id of 64 characters, not all ASCII, makes a token of some 300: it is
    the token's own checks that bound it, not the API's for ids."""
    url, intake, _ = page()
    long = token(who="微信用户" * 16)
    assert len(long) > 200
    answer = requests.get(f"{url}/r/{long}")
    assert answer.status_code == 200 and "<form" in answer.text
    assert intake.calls[0][1][1]["id"] == "微信用户" * 16


def test_a_service_down_is_a_page_too(page):
    from nameko.exceptions import UnknownService
    url, _, _ = page(intake=FakeService(get_complaint=UnknownService("intake")))
    answer = requests.get(f"{url}/r/{token()}")
    assert answer.status_code == 503 and answer.headers["Content-Type"].startswith("text/html")
    assert "系统繁忙" in answer.text


def test_an_expired_token_is_a_clear_410(page):
    url, intake, _ = page()
    answer = requests.get(f"{url}/r/{token(expires_in=-1)}")
    assert answer.status_code == 410 and "已过期" in answer.text
    assert intake.calls == []


def test_without_a_secret_no_link_works(page):
    url, intake, _ = page(secret="")
    assert requests.get(f"{url}/r/{token()}").status_code == 404
    assert intake.calls == []


def test_a_case_that_is_not_theirs_is_not_found(page):
    url, _, _ = page(intake=FakeService(get_complaint=NotFound("complaint not found")))
    assert requests.get(f"{url}/r/{token()}").status_code == 404


@pytest.mark.parametrize("form", [
    {}, {"contacted": "1", "solved": "1"}, dict(ANSWERS, contacted="yes"),
    dict(ANSWERS, level="great"), dict(ANSWERS, comment="长" * 1001), dict(ANSWERS, extra="1"),
    # a form is not checked as a JSON body is: a NUL would have reached the database
    dict(ANSWERS, comment="配件\x00还没到"), dict(ANSWERS, comment="\x1b[31m")])
def test_an_incomplete_form_is_shown_again_with_why(page, form):
    url, _, rating = page()
    answer = requests.post(f"{url}/r/{token()}", data=form)
    assert answer.status_code == 400, answer.text
    assert "请回答全部三个问题" in answer.text and "<form" in answer.text
    assert rating.calls == []


def test_what_rating_refuses_is_shown_with_the_form(page):
    url, _, _ = page(rating=FakeService(rate=InvalidInput({"comment": ["含有不允许的字符"]})))
    answer = requests.post(f"{url}/r/{token()}", data=ANSWERS)
    assert answer.status_code == 400 and "<form" in answer.text


def test_a_body_that_is_not_a_form_is_refused(page):
    url, _, rating = page()
    answer = requests.post(f"{url}/r/{token()}", json=ANSWERS)
    assert answer.status_code == 415 and rating.calls == []


# ----------------------------------------------------- the SMS's link into the H5 (issue 13)
def _loopback_session() -> requests.Session:
    from tests.pages.client import PageClient

    return PageClient("http://unused").http   # sends its Secure cookie over loopback http


def test_the_sms_link_signs_the_caller_in_and_opens_the_case_in_the_h5(page):
    url, intake, _ = page(intake=FakeService(get_complaint=dict(
        REPLIED, content="热水不热", timeline=[], communications=[], attachments=[])))
    browser = _loopback_session()
    answer = browser.get(f"{url}/h5/t/{token()}", allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/h5/cases/{CASE_ID}"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    shown = browser.get(f"{url}/h5/cases/{CASE_ID}")
    assert shown.status_code == 200, shown.text[:300]
    assert "JS-20261124-0007" in shown.text and 'id="rating-form"' in shown.text
    assert intake.calls[-1][1][1]["id"] == CALLER   # read as the caller the token names


def test_a_bad_or_expired_sms_link_signs_nobody_in(page):
    url, intake, _ = page()
    bad = requests.get(f"{url}/h5/t/{token(secret='not-ours')}", allow_redirects=False)
    assert bad.status_code == 404 and "链接无效" in bad.text and "Set-Cookie" not in bad.headers
    old = requests.get(f"{url}/h5/t/{token(expires_in=-1)}", allow_redirects=False)
    assert old.status_code == 410 and "已过期" in old.text
    assert intake.calls == []
