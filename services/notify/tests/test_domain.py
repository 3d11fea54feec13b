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


# ------------------------------------------------------------------ channels and addresses
def test_a_person_hears_on_the_channel_they_came_by_whatever_the_case():
    from services.notify.domain import reply_channel

    assert reply_channel("wechat:oAbc", "app") == "wechat"       # merged from WeChat
    assert reply_channel("hotline:5f2c", "wechat") == "sms"
    assert reply_channel("open311:map:li", "app") == "open311"
    assert reply_channel("s2023001", "app") == "app"
    assert reply_channel("s2023001", "staff") == "app"


def test_the_address_is_the_openid_or_the_callers_phone():
    from services.notify.domain import Message, address_for

    def message(channel, recipient):
        return Message("complainant", recipient, None, channel, "t", "x")
    phones = {"hotline:5f2c": "13912345678"}.get
    assert address_for(message("wechat", "wechat:oAbc"), phones) == "oAbc"
    assert address_for(message("sms", "hotline:5f2c"), phones) == "13912345678"
    assert address_for(message("sms", "hotline:unknown"), phones) is None
    assert address_for(message("app", "s2023001"), phones) is None


def test_senders_are_chosen_per_channel_from_the_settings():
    from services.common.settings import Settings
    from services.notify.senders import ChannelSenders, LoggingSender
    from services.notify.sms import HttpSmsSender, LoggingSmsSender
    from services.notify.wechat_api import WeChatTemplateSender

    default = ChannelSenders.from_settings(Settings())
    assert isinstance(default.sender_for("sms"), LoggingSmsSender)
    assert isinstance(default.sender_for("wechat"), LoggingSender)
    assert isinstance(default.sender_for("app"), LoggingSender)
    configured = ChannelSenders.from_settings(Settings(
        sms_base_url="http://sms.example", sms_account="a", sms_secret="s",
        wechat_app_id="wx1", wechat_app_secret="secret", wechat_template_id="T1"))
    assert isinstance(configured.sender_for("sms"), HttpSmsSender)
    assert isinstance(configured.sender_for("wechat"), WeChatTemplateSender)
    assert isinstance(configured.sender_for("open311"), LoggingSender)
    assert configured.sender_for("wechat").link_base is None        # nowhere to link to
    # the template message opens the H5's case page by default, another link when set
    linked = ChannelSenders.from_settings(Settings(
        wechat_app_id="wx1", wechat_app_secret="secret", wechat_template_id="T1",
        public_base_url="https://jiesu.example.edu.cn"))
    assert linked.sender_for("wechat").link_base == "https://jiesu.example.edu.cn/h5/cases"
    elsewhere = ChannelSenders.from_settings(Settings(
        wechat_app_id="wx1", wechat_app_secret="secret", wechat_template_id="T1",
        public_base_url="https://jiesu.example.edu.cn", wechat_case_link="https://m.example/c"))
    assert elsewhere.sender_for("wechat").link_base == "https://m.example/c"


def test_notices_to_staff_carry_no_phone_whole_and_the_complainants_are_as_written():
    # X5: a handler's reason or note may hold a number; staff read it masked.
    to_head = domain.Message("head", "u-hqc-head", "郑国强", "app", "extension_requested",
                             "诉求 JS-20261124-0001 申请延期:需联系 0531-88117897 厂家")
    to_complainant = domain.Message("complainant", "s1", "张三", "app", "complaint_replied",
                                    "您的诉求已答复:如再停水请拨打 0531-88117897")

    assert domain.as_sent(to_head).text == "诉求 JS-20261124-0001 申请延期:需联系 0531-****7897 厂家"
    assert domain.as_sent(to_complainant) == to_complainant


def test_the_logging_sender_does_not_log_who_the_complainant_is(caplog):
    from types import SimpleNamespace

    from services.notify.senders import LoggingSender

    notice = SimpleNamespace(id="n-1", complaint_id="c-1", recipient_role="complainant",
                             recipient_id="s-2025-7788", recipient_name="欧阳明月",
                             channel="app", template="complaint_closed", text="您的诉求已办结")
    with caplog.at_level("INFO", logger="jiesu.notify.sender"):
        LoggingSender().send(notice)
        LoggingSender().send(SimpleNamespace(**dict(vars(notice), recipient_role="handler",
                                               recipient_id="u-hqc-1")))

    first, second = (record.getMessage() for record in caplog.records)
    assert "s-2025-7788" not in first and "欧阳明月" not in first
    assert "n-1" in first and "c-1" in first and "complaint_closed" in first
    assert "u-hqc-1" in second  # staff are named: it is their work


def _extension_event(event_type, requester, head, **more):
    from datetime import datetime, timezone

    return {"event_type": event_type, "complaint_id": "c-1", "number": "JS-20261201-0001",
            "new_due_at": datetime(2026, 12, 8, 9, 30, tzinfo=timezone.utc),
            "old_due_at": datetime(2026, 12, 4, 9, 30, tzinfo=timezone.utc),
            "reason": "需厂家配件", "requested_by": requester, "unit_head": head, **more}


def test_a_request_goes_to_the_head_and_a_heads_own_request_to_the_office():
    handler = {"id": "u-hqc-1", "name": "王师傅"}
    head = {"id": "u-hqc-head", "name": "郑国强"}

    [to_head] = domain.extension_messages(_extension_event("extension_requested", handler, head),
                                          None)
    [to_office] = domain.extension_messages(_extension_event("extension_requested", head, head),
                                            None)

    assert (to_head.recipient_role, to_head.recipient_id) == ("head", "u-hqc-head")
    # The head who asked cannot decide it (sla refuses): the office must hear of it.
    assert (to_office.recipient_role, to_office.recipient_id) == ("office", "office")


def test_an_approved_extension_tells_the_handler_as_staff_and_the_complainant_as_such():
    from types import SimpleNamespace

    contact = SimpleNamespace(complainant_id="s1", complainant_name="张三", channel="app")
    handler = {"id": "u-hqc-1", "name": "王师傅"}
    to_handler, to_complainant = domain.extension_messages(_extension_event(
        "extension_decided", handler, None, status="approved"), contact)

    assert to_handler.template == "extension_granted" and "您的诉求" not in to_handler.text
    assert to_complainant.template == "extension_approved"
    assert to_complainant.text.startswith("您的诉求")
