from datetime import datetime, timezone

import pytest

from services.common.contracts import build_event, load_event
from services.notify import domain

AT = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)


def received(channel="app", **changes):
    body = dict(number="JS-20261124-0001", channel=channel, category="logistics",
                content="学生公寓3号楼热水已经停了两天",
                complainant={"id": "s2023001", "name": "张三"}, contact_phone="13912345678")
    body.update(changes)
    return load_event("complaint_received", build_event("complaint_received", "c-1", AT, **body))


def assigned():
    return load_event("complaint_assigned", build_event(
        "complaint_assigned", "c-1", AT, number="JS-20261124-0001", category="logistics",
        grade="general", unit={"id": "logistics", "name": "后勤管理处"},
        handler={"id": "u-hqc-1", "name": "冯涛"}, received_at=AT))


def test_the_acknowledgement_goes_to_the_complainant_with_the_number():
    message = domain.acknowledgement(received())

    assert message.recipient_role == "complainant"
    assert (message.recipient_id, message.recipient_name) == ("s2023001", "张三")
    assert message.template == "complaint_acknowledged"
    assert "JS-20261124-0001" in message.text


@pytest.mark.parametrize("channel, reply_channel", [
    ("app", "app"), ("wechat", "wechat"), ("hotline", "sms"), ("open311", "open311")])
def test_the_complainant_hears_back_the_way_they_came_in(channel, reply_channel):
    assert domain.acknowledgement(received(channel)).channel == reply_channel


def test_the_acknowledgement_never_quotes_the_phone():
    assert "13912345678" not in domain.acknowledgement(received()).text


def test_the_assignment_notice_goes_to_the_handler_in_the_app():
    message = domain.assignment_notice(assigned())

    assert (message.recipient_role, message.recipient_id, message.recipient_name) == \
        ("handler", "u-hqc-1", "冯涛")
    assert message.channel == "app"
    assert message.template == "complaint_assigned_to_handler"
    assert message.text == "【接诉即办】新诉求 JS-20261124-0001(后勤保障)已派给您,请及时签收办理。"


def test_render_fills_a_template():
    assert domain.render("complaint_acknowledged", number="JS-1").startswith("您的诉求已受理,编号 JS-1。")
