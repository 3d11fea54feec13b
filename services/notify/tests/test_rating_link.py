"""The reply's SMS carries the 回访 link (issue 12); other channels and notices do not."""
from datetime import datetime, timezone

from services.common.contracts import build_event
from services.common.rating_link import verify
from services.notify import domain

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
CALLER = {"id": "hotline:3f2a", "name": None}
STUDENT = {"id": "s1", "name": "张三"}


def transitioned(action, complainants, channel="hotline"):
    return build_event("complaint_transitioned", "c-1", NOW, number="JS-20261124-0001",
                       category="logistics", action=action, from_status="in_progress",
                       to_status="replied", round=0, actor={"id": "h1"}, actor_role="handler",
                       unit={"id": "logistics", "name": "后勤管理处"},
                       complainants=complainants, channel=channel, note="已修好")


def link_for(person):
    return f"https://jiesu.example.edu.cn/r/token-of-{person}"


def test_the_reply_sms_links_the_rating_page_for_that_complainant():
    # a student's duplicate merged into a caller's case: the student hears in the app
    sms, app = domain.transition_messages(transitioned("reply", [CALLER, STUDENT], "app"),
                                          link_for)
    assert sms.channel == "sms" and sms.template == "complaint_replied"
    assert sms.text.endswith("评价请点 https://jiesu.example.edu.cn/r/token-of-hotline:3f2a")
    assert app.channel == "app" and "http" not in app.text


def test_without_a_link_the_sms_is_the_template_alone():
    (sms,) = domain.transition_messages(transitioned("reply", [CALLER]), lambda person: None)
    assert sms.text == domain.render("complaint_replied", number="JS-20261124-0001",
                                     unit="后勤管理处", note="已修好")
    assert domain.transition_messages(transitioned("reply", [CALLER]))[0].text == sms.text


def test_only_the_reply_carries_it():
    (closed,) = domain.transition_messages(transitioned("close", [CALLER]), link_for)
    assert "http" not in closed.text


def test_notify_signs_a_link_the_gateway_accepts():
    from nameko.testing.services import worker_factory

    from services.common.clock import ManualClock
    from services.common.settings import Settings
    from services.common.testing import InMemoryDatabase
    from services.notify.models import Notification, metadata
    from services.notify.service import NotifyService

    class Sender:
        def send(self, notification):
            pass

    settings = Settings(public_base_url="https://jiesu.example.edu.cn",
                        rating_link_secret="notify-test-secret")
    db = InMemoryDatabase(metadata, clock=ManualClock(NOW))
    service = worker_factory(NotifyService, db=db, sender=Sender(), settings=settings)
    service.on_complaint_transitioned(transitioned("reply", [CALLER]))
    with db.session() as session:
        (text,) = [n.text for n in session.query(Notification).all()]
    assert "https://jiesu.example.edu.cn/h5/t/" in text   # opens the case in the H5
    token = text.rsplit("/h5/t/", 1)[1]
    assert verify("notify-test-secret", token, NOW.timestamp()) == ("c-1", "hotline:3f2a")
