"""A summary (summary_published) posted to the work group by notify, through the real robot
senders to local fake robots: WeCom's (each markdown ≤ 4,096 bytes, each image's md5 right)
and DingTalk's (the signature checked); a failing robot is retried by the sweep and delivers
the rest; a summary published again posts nothing new."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.notify.models import Notification, WorkgroupPost, metadata
from services.notify.senders import ChannelSenders
from services.notify.service import NotifyService
from services.notify.tests import test_workgroup as robots
from services.notify.tests.test_workgroup import PNG

# The fake robots (local HTTP servers that check what WeCom and DingTalk check).
wecom, dingtalk = robots.wecom, robots.dingtalk

NOW = datetime(2026, 11, 30, 0, 30, tzinfo=timezone.utc)
SUMMARY_ID = "7a1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"
BASE = "https://jiesu.example.edu.cn"
OTHER_PNG = PNG + b"second chart"


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def db(clock):
    return InMemoryDatabase(metadata, clock=clock)


def notify(db, robot, kind="wecom"):
    settings = Settings(workgroup_webhook_url=robot.url, workgroup_webhook_kind=kind,
                        workgroup_webhook_secret="SEC-ding-test-secret-7f3a",
                        public_base_url=BASE, notify_resend_after_seconds=30)
    return worker_factory(NotifyService, db=db, settings=settings,
                          sender=ChannelSenders.from_settings(settings))


def published(lines=150):
    """A month's summary whose digest is longer than one WeCom message, with two charts."""
    digest = "## 2026年11月接诉即办月总结\n" + "\n".join(
        f"- JS-20261125-{n:04d} 宿舍热水器故障未及时维修(后勤管理处、冯涛),时限 11-28 17:30"
        for n in range(lines))
    charts = [{"name": name, "title": title, "png": base64.b64encode(png).decode(),
               "md5": hashlib.md5(png).hexdigest()}
              for name, title, png in (("rates", "各单位三率", PNG),
                                       ("received", "每日受理量", OTHER_PNG))]
    return build_event("summary_published", SUMMARY_ID, NOW, kind="monthly", period="2026-11",
                       title="2026年11月接诉即办月总结", digest=digest, charts=charts)


def rows(db):
    with db.session() as session:
        return session.execute(select(Notification)).scalars().all()


def test_a_summary_goes_to_wecom_in_parts_with_its_charts_and_links(db, wecom):
    event = published()
    notify(db, wecom).on_summary_published(event)

    markdown = [m["markdown"]["content"] for m in wecom.messages if m["msgtype"] == "markdown"]
    images = [m["image"] for m in wecom.messages if m["msgtype"] == "image"]
    assert len(markdown) > 1 and all(len(m.encode("utf-8")) <= 4096 for m in markdown)
    assert "\n".join(markdown).startswith("## 2026年11月接诉即办月总结")
    assert markdown[-1].endswith(
        f"[查看全文]({BASE}/api/v1/staff/summaries/{SUMMARY_ID}) · "
        f"[下载 xlsx]({BASE}/api/v1/staff/summaries/{SUMMARY_ID}.xlsx)")
    assert [base64.b64decode(i["base64"]) for i in images] == [PNG, OTHER_PNG]
    assert [i["md5"] for i in images] == [hashlib.md5(PNG).hexdigest(),
                                         hashlib.md5(OTHER_PNG).hexdigest()]
    (row,) = rows(db)
    assert (row.channel, row.recipient_role, row.complaint_id, row.status) == \
        ("workgroup", "workgroup", SUMMARY_ID, "sent")


def test_a_summary_goes_to_dingtalk_signed(db, dingtalk):
    notify(db, dingtalk, kind="dingtalk").on_summary_published(published(lines=20))
    assert len(dingtalk.messages) == 1      # the fake refuses a bad signature (310000)
    text = dingtalk.messages[0]["markdown"]["text"]
    assert text.startswith("## 2026年11月接诉即办月总结")
    assert f"{BASE}/api/v1/staff/summaries/{SUMMARY_ID}.xlsx" in text
    assert all("sign" in r["query"] and "timestamp" in r["query"] for r in dingtalk.requests)
    (row,) = rows(db)
    assert row.status == "sent"


def test_a_failing_robot_is_retried_and_then_delivers_everything_once(db, wecom, clock):
    service = notify(db, wecom)
    wecom.script = [(502, b"<html>bad gateway</html>")]
    service.on_summary_published(published())
    (row,) = rows(db)
    assert (row.status, row.attempts) == ("pending", 1) and "HTTP 502" in row.last_error
    assert wecom.messages == []

    clock.advance(seconds=31)
    service.resend_pending()
    (row,) = rows(db)
    assert (row.status, row.attempts) == ("sent", 2)
    kinds = [m["msgtype"] for m in wecom.messages]
    assert kinds.count("image") == 2 and kinds[-2:] == ["image", "image"]
    contents = [m["markdown"]["content"] for m in wecom.messages if m["msgtype"] == "markdown"]
    assert len(contents) == len(set(contents))   # no part twice


def test_publishing_the_same_summary_again_posts_nothing_new(db, wecom):
    service = notify(db, wecom)
    first = published()
    service.on_summary_published(first)
    posted = list(wecom.messages)
    service.on_summary_published(first)            # the same event redelivered
    service.on_summary_published(published())      # a new event for the same summary
    assert wecom.messages == posted
    assert len(rows(db)) == 1
    with db.session() as session:
        (post,) = session.execute(select(WorkgroupPost)).scalars().all()
    assert post.summary_id == SUMMARY_ID and [c["name"] for c in post.charts] == \
        ["rates", "received"]
