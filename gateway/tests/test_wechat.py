"""The WeChat Official Account protocol (R2) and the filing dialogue (R3), against messages built
the way WeChat's documentation builds them (the reference routines below are written from the
documentation, not from gateway.wechat)."""
import base64
import hashlib
import struct
from xml.etree import ElementTree

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway import wechat
from gateway.wechat import Dialogue, WeChatCrypto, WeChatRejected
from services.common.contracts import CATEGORIES

TOKEN = "pamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wxb11529c136998cb6"
ACCOUNT = "gh_5f1c2e7a9b3d"
OPENID = "oia2TjjewbmiOUlr6X-1crbLOvLw"
NOW = 1_763_000_000
NONCE = "1320562132"

TEXT = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{NOW}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[学生公寓3号楼热水已经停了两天]]></Content>"
        "<MsgId>1234567890123456</MsgId></xml>")


def event_xml(event, key=None, at=NOW):
    key_xml = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
            f"<CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{key_xml}</xml>")


# -- reference routines, from WeChat's documentation ---------------------------------------

def ref_sign(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def ref_encrypt(xml, app_id=APP_ID, key=AES_KEY, prefix=b"0123456789abcdef"):
    aes_key = base64.b64decode(key + "=")
    body = xml.encode()
    plain = prefix + struct.pack(">I", len(body)) + body + app_id.encode()
    amount = 32 - (len(plain) % 32)
    plain += bytes([amount]) * amount
    enc = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def ref_decrypt(encrypt, key=AES_KEY):
    aes_key = base64.b64decode(key + "=")
    dec = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).decryptor()
    plain = dec.update(base64.b64decode(encrypt)) + dec.finalize()
    plain = plain[:-plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20:20 + length].decode(), plain[20 + length:].decode()


def envelope(encrypt):
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")


@pytest.fixture
def crypto():
    return WeChatCrypto(TOKEN, AES_KEY, APP_ID)


# -- signatures -----------------------------------------------------------------------------

def test_signature_is_sha1_of_the_sorted_parts(crypto):
    assert crypto.signature(str(NOW), NONCE) == ref_sign(TOKEN, str(NOW), NONCE)
    crypto.check_signature(ref_sign(TOKEN, str(NOW), NONCE), str(NOW), NONCE, now=NOW + 10)


def test_url_verification_echoes_echostr(crypto):
    sig = ref_sign(TOKEN, str(NOW), NONCE)
    assert crypto.verify_url(sig, str(NOW), NONCE, "5837397520665436492", NOW) == \
        "5837397520665436492"


@pytest.mark.parametrize("signature", ["", "0" * 40, ref_sign("other", str(NOW), NONCE)])
def test_bad_signature_is_rejected(crypto, signature):
    with pytest.raises(WeChatRejected, match="signature"):
        crypto.check_signature(signature, str(NOW), NONCE, now=NOW)


@pytest.mark.parametrize("sent", [NOW - 301, NOW + 301])
def test_stale_timestamp_is_rejected(crypto, sent):
    with pytest.raises(WeChatRejected, match="timestamp"):
        crypto.check_signature(ref_sign(TOKEN, str(sent), NONCE), str(sent), NONCE, now=NOW)
    crypto.check_signature(ref_sign(TOKEN, str(NOW - 300), NONCE), str(NOW - 300), NONCE,
                           now=NOW)


def test_key_must_be_a_43_character_encoding_aes_key():
    with pytest.raises(ValueError):
        WeChatCrypto(TOKEN, AES_KEY[:-1], APP_ID)


# -- safe mode ------------------------------------------------------------------------------

def test_decrypts_what_wechat_encrypts(crypto):
    encrypt = ref_encrypt(TEXT)
    sig = ref_sign(TOKEN, str(NOW), NONCE, encrypt)
    inner = crypto.decrypt(envelope(encrypt), sig, str(NOW), NONCE, now=NOW)
    assert inner == TEXT
    assert wechat.parse_message(inner)["content"] == "学生公寓3号楼热水已经停了两天"


def test_encrypted_reply_is_what_wechat_expects(crypto):
    reply = wechat.text_reply(OPENID, ACCOUNT, "已收到 ]]> 请稍候", NOW)
    out = ElementTree.fromstring(crypto.encrypt(reply, NONCE, NOW))
    encrypt = out.findtext("Encrypt")
    assert out.findtext("TimeStamp") == str(NOW)
    assert out.findtext("Nonce") == NONCE
    assert out.findtext("MsgSignature") == ref_sign(TOKEN, str(NOW), NONCE, encrypt)
    assert len(base64.b64decode(encrypt)) % 32 == 0
    assert ref_decrypt(encrypt) == (reply, APP_ID)


def test_encrypt_matches_the_reference_bit_for_bit(crypto):
    prefix = b"fedcba9876543210"
    out = ElementTree.fromstring(crypto.encrypt(TEXT, NONCE, NOW, random_prefix=prefix))
    assert out.findtext("Encrypt") == ref_encrypt(TEXT, prefix=prefix)


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 44, 300])
def test_round_trip_across_padding_lengths(crypto, size):
    xml = "<xml><Content>" + "字" * size + "</Content></xml>"
    out = ElementTree.fromstring(crypto.encrypt(xml, NONCE, NOW))
    assert crypto.decrypt(envelope(out.findtext("Encrypt")), out.findtext("MsgSignature"),
                          str(NOW), NONCE, now=NOW) == xml


def test_bad_msg_signature_is_rejected(crypto):
    encrypt = ref_encrypt(TEXT)
    with pytest.raises(WeChatRejected, match="msg_signature"):
        crypto.decrypt(envelope(encrypt), ref_sign(TOKEN, str(NOW), NONCE), str(NOW), NONCE,
                       now=NOW)


def test_stale_encrypted_message_is_rejected(crypto):
    encrypt = ref_encrypt(TEXT)
    old = str(NOW - 3600)
    with pytest.raises(WeChatRejected, match="timestamp"):
        crypto.decrypt(envelope(encrypt), ref_sign(TOKEN, old, NONCE, encrypt), old, NONCE,
                       now=NOW)


def test_wrong_appid_is_rejected(crypto):
    encrypt = ref_encrypt(TEXT, app_id="wx0000000000000000")
    with pytest.raises(WeChatRejected, match="appid"):
        crypto.decrypt(envelope(encrypt), ref_sign(TOKEN, str(NOW), NONCE, encrypt), str(NOW),
                       NONCE, now=NOW)


def test_wrong_key_is_rejected():
    other = WeChatCrypto(TOKEN, "B" * 43, APP_ID)
    encrypt = ref_encrypt(TEXT)
    with pytest.raises(WeChatRejected):
        other.decrypt(envelope(encrypt), ref_sign(TOKEN, str(NOW), NONCE, encrypt), str(NOW),
                      NONCE, now=NOW)


def tamper(encrypt, index):
    raw = bytearray(base64.b64decode(encrypt))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_tampered_ciphertext_fails_the_signature(crypto):
    encrypt = ref_encrypt(TEXT)
    sig = ref_sign(TOKEN, str(NOW), NONCE, encrypt)
    with pytest.raises(WeChatRejected, match="msg_signature"):
        crypto.decrypt(envelope(tamper(encrypt, 40)), sig, str(NOW), NONCE, now=NOW)


@pytest.mark.parametrize("index", [-1, -17, -33])
def test_tampered_ciphertext_fails_padding_or_appid_even_if_resigned(crypto, index):
    encrypt = tamper(ref_encrypt(TEXT), index)
    with pytest.raises(WeChatRejected):
        crypto.decrypt(envelope(encrypt), ref_sign(TOKEN, str(NOW), NONCE, encrypt), str(NOW),
                       NONCE, now=NOW)


@pytest.mark.parametrize("encrypt", ["not base64!!", base64.b64encode(b"x" * 20).decode()])
def test_malformed_ciphertext_is_rejected(crypto, encrypt):
    with pytest.raises(WeChatRejected):
        crypto.decrypt(envelope(encrypt), ref_sign(TOKEN, str(NOW), NONCE, encrypt), str(NOW),
                       NONCE, now=NOW)


def test_envelope_without_encrypt_is_rejected(crypto):
    with pytest.raises(WeChatRejected, match="Encrypt"):
        crypto.decrypt("<xml><ToUserName>x</ToUserName></xml>", "0" * 40, str(NOW), NONCE,
                       now=NOW)


# -- parsing --------------------------------------------------------------------------------

def test_parses_a_text_message():
    assert wechat.parse_message(TEXT) == {
        "to_user": ACCOUNT, "from_user": OPENID, "create_time": NOW, "msg_type": "text",
        "content": "学生公寓3号楼热水已经停了两天", "msg_id": "1234567890123456",
        "event": None, "event_key": None}


def test_parses_events():
    assert wechat.parse_message(event_xml("subscribe"))["event"] == "subscribe"
    click = wechat.parse_message(event_xml("CLICK", "FILE").encode())
    assert (click["msg_type"], click["event"], click["event_key"], click["msg_id"]) == \
        ("event", "click", "FILE", None)


XXE = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       f"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
       f"<CreateTime>{NOW}</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content>"
       "<MsgId>1</MsgId></xml>")
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'
                    for i in range(1, 10)).replace("&lol0;", "&lol;")
          + "]><xml><Content>&lol9;</Content></xml>")


@pytest.mark.parametrize("body", [XXE, LAUGHS, '<!DOCTYPE xml><xml></xml>'],
                         ids=["xxe", "billion-laughs", "doctype"])
def test_dtds_and_entities_are_refused(body):
    with pytest.raises(WeChatRejected, match="DTD"):
        wechat.parse_message(body)


def test_xxe_inside_the_encrypted_envelope_is_refused(crypto):
    encrypt = ref_encrypt(TEXT)
    body = ('<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            f"<xml><Encrypt>{encrypt}</Encrypt><X>&e;</X></xml>")
    with pytest.raises(WeChatRejected, match="DTD"):
        crypto.decrypt(body, ref_sign(TOKEN, str(NOW), NONCE, encrypt), str(NOW), NONCE,
                       now=NOW)


def test_oversized_body_is_rejected():
    body = TEXT.replace("两天", "两天" + "啊" * 22_000)
    with pytest.raises(WeChatRejected, match="too large"):
        wechat.parse_message(body)
    assert wechat.parse_message(TEXT, max_bytes=len(TEXT.encode()))["msg_id"]


@pytest.mark.parametrize("body", [
    "", "not xml", "<xml><ToUserName>a</ToUserName>", "<other/>",
    TEXT.replace("<MsgId>1234567890123456</MsgId>", ""),
    TEXT.replace(f"<CreateTime>{NOW}</CreateTime>", "<CreateTime>soon</CreateTime>"),
    TEXT.replace(f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>", ""),
    event_xml("").replace("<Event><![CDATA[]]></Event>", ""),
])
def test_malformed_or_incomplete_messages_are_rejected(body):
    with pytest.raises(WeChatRejected):
        wechat.parse_message(body)


# -- replies and dedup ----------------------------------------------------------------------

def test_passive_text_reply():
    xml = wechat.text_reply(OPENID, ACCOUNT, "已受理 <编号> & ]]> 结束\x07", NOW + 1.7)
    root = ElementTree.fromstring(xml)
    assert root.tag == "xml"
    assert [child.tag for child in root] == ["ToUserName", "FromUserName", "CreateTime",
                                             "MsgType", "Content"]
    assert root.findtext("ToUserName") == OPENID
    assert root.findtext("FromUserName") == ACCOUNT
    assert root.findtext("CreateTime") == str(NOW + 1)
    assert root.findtext("MsgType") == "text"
    assert root.findtext("Content") == "已受理 <编号> & ]]> 结束"


def test_dedup_keys():
    text = wechat.parse_message(TEXT)
    assert wechat.dedup_key(text) == "wechat:msg:1234567890123456"
    assert wechat.dedup_key(wechat.parse_message(TEXT)) == wechat.dedup_key(text)  # a retry
    click = wechat.parse_message(event_xml("CLICK", "FILE"))
    assert wechat.dedup_key(click) == f"wechat:event:{OPENID}:{NOW}"
    later = wechat.parse_message(event_xml("CLICK", "FILE", at=NOW + 1))
    assert wechat.dedup_key(later) != wechat.dedup_key(click)


# -- the dialogue ---------------------------------------------------------------------------

def text(content, at=NOW, msg_id=1):
    return {"to_user": ACCOUNT, "from_user": OPENID, "create_time": at, "msg_type": "text",
            "content": content, "msg_id": str(msg_id), "event": None, "event_key": None}


def event(name, key=None, at=NOW):
    return wechat.parse_message(event_xml(name, key, at))


def test_free_text_to_filing():
    dialogue = Dialogue()
    state, action = dialogue.handle(None, text("学生公寓3号楼热水已经停了两天"))
    assert action["type"] == "reply"
    for number, code in enumerate(CATEGORIES, 1):
        assert f"{number} {CATEGORIES[code]}" in action["text"]
    state, action = dialogue.handle(state, text("2", at=NOW + 5))
    assert action["type"] == "reply"
    assert "请确认您反映的情况真实" in action["text"] and "如实反映" in action["text"]
    assert "1 确认" in action["text"] and "2 取消" in action["text"]
    assert "后勤保障" in action["text"]
    state, action = dialogue.handle(state, text("1", at=NOW + 9))
    assert state is None
    assert action == {"type": "file", "category": "logistics",
                      "content": "学生公寓3号楼热水已经停了两天"}


def test_menu_click_starts_a_filing_and_full_width_digits_count():
    dialogue = Dialogue()
    state, action = dialogue.handle(None, event("CLICK", "FILE"))
    assert state["step"] == "content" and "描述" in action["text"]
    state, _ = dialogue.handle(state, text("  图书馆三楼空调坏了一周  "))
    state, action = dialogue.handle(state, text("１"))
    assert state["category"] == "education"
    _, action = dialogue.handle(state, text("确认"))
    assert action == {"type": "file", "category": "education", "content": "图书馆三楼空调坏了一周"}


def test_category_must_be_one_to_ten():
    dialogue = Dialogue()
    state, _ = dialogue.handle(None, text("食堂饭菜价格上涨太快"))
    for wrong in ("0", "11", "后勤"):
        same, action = dialogue.handle(state, text(wrong))
        assert same["step"] == "category" and "1–10" in action["text"]
    state, _ = dialogue.handle(state, text("10"))
    assert state["category"] == "epidemic"


def test_too_short_content_is_not_filed():
    state, action = Dialogue().handle(None, text("你好"))
    assert state["step"] == "content" and "至少" in action["text"]


@pytest.mark.parametrize("cancel", ["取消", "2"])
def test_cancel_at_confirmation(cancel):
    dialogue = Dialogue()
    state, _ = dialogue.handle(None, text("宿舍楼道灯坏了很久没人修"))
    state, _ = dialogue.handle(state, text("3"))
    state, action = dialogue.handle(state, text(cancel))
    assert state is None and action == {"type": "reply", "text": wechat.CANCELLED}


def test_cancel_while_choosing_and_when_idle():
    dialogue = Dialogue()
    state, _ = dialogue.handle(None, text("宿舍楼道灯坏了很久没人修"))
    state, action = dialogue.handle(state, text(" 取消 "))
    assert state is None and action["text"] == wechat.CANCELLED
    state, action = dialogue.handle(None, text("取消"))
    assert state is None and action["text"] == wechat.NOTHING_TO_CANCEL


def test_query_command():
    dialogue = Dialogue()
    assert dialogue.handle(None, text("查询 js-20261124-0007")) == \
        (None, {"type": "query", "number": "JS-20261124-0007"})
    assert dialogue.handle(None, text("查询JS-20261124-0007"))[1]["type"] == "query"
    in_progress = {"step": "category", "content": "热水停了两天", "at": NOW}
    state, action = dialogue.handle(in_progress, text("查询 JS-20261124-0007"))
    assert state == in_progress and action["type"] == "query"
    _, action = dialogue.handle(None, text("查询"))
    assert action == {"type": "reply", "text": wechat.QUERY_HELP}
    _, action = dialogue.handle(None, event("CLICK", "QUERY"))
    assert action == {"type": "reply", "text": wechat.QUERY_HELP}


def test_subscribe_welcome_explains_and_states_the_pledge():
    state, action = Dialogue().handle({"step": "content", "at": NOW}, event("subscribe"))
    assert state is None and action["type"] == "reply"
    assert "查询" in action["text"] and "取消" in action["text"]
    assert "如实反映" in action["text"] and "真实性" in action["text"]


def test_other_events_and_message_types():
    dialogue = Dialogue()
    assert dialogue.handle(None, event("unsubscribe")) == (None, wechat.IGNORE)
    assert dialogue.handle(None, event("VIEW", "https://example.edu"))[1] == wechat.IGNORE
    image = dict(text(None), msg_type="image")
    assert dialogue.handle(None, image)[1] == {"type": "reply", "text": wechat.TEXT_ONLY}


def test_an_abandoned_draft_expires():
    dialogue = Dialogue(ttl=1800)
    state, _ = dialogue.handle(None, text("宿舍楼道灯坏了很久没人修"))
    state, _ = dialogue.handle(state, text("3", at=NOW + 60))
    state, action = dialogue.handle(state, text("1", at=NOW + 60 + 1801))
    assert action["type"] == "reply" and state["step"] == "content"   # "1" is not a filing


# -- the 回访 dialogue (issue 12) -----------------------------------------------------------

CASE = {"id": "5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f", "number": "JS-20261124-0007"}


def test_rate_command_asks_the_gateway_to_find_the_case():
    dialogue = Dialogue()
    assert dialogue.handle(None, text("评价")) == (None, {"type": "rate_start", "number": None})
    assert dialogue.handle(None, text("评价 js-20261124-0007")) == \
        (None, {"type": "rate_start", "number": "JS-20261124-0007"})
    assert dialogue.handle(None, text("评价JS-20261124-0007"))[1]["number"] == "JS-20261124-0007"
    assert dialogue.handle(None, event("CLICK", "RATE")) == \
        (None, {"type": "rate_start", "number": None})
    # "评价" begins a sentence too: a text that only starts with it is a filing's content
    state, action = dialogue.handle(None, text("评价一下食堂的饭菜,价格太高了"))
    assert state["step"] == "category" and action["type"] == "reply"


def test_three_questions_and_a_comment_then_the_rating():
    dialogue = Dialogue()
    state, prompt = wechat.rating_started(CASE, NOW)
    assert state["step"] == "contacted" and "JS-20261124-0007" in prompt
    assert "是否与您联系" in prompt and "1 是" in prompt and "2 否" in prompt
    state, action = dialogue.handle(state, text("1", at=NOW + 5))
    assert state["step"] == "solved" and "是否已解决" in action["text"]
    state, action = dialogue.handle(state, text("２", at=NOW + 9))      # full-width digit
    assert state["step"] == "level"
    assert all(choice in action["text"] for choice in ("1 满意", "2 基本满意", "3 不满意"))
    state, action = dialogue.handle(state, text("2", at=NOW + 12))
    assert state["step"] == "comment" and "跳过" in action["text"]
    state, action = dialogue.handle(state, text("  配件还没到,希望尽快  ", at=NOW + 20))
    assert state is None
    assert action == {"type": "rate", "complaint_id": CASE["id"], "number": CASE["number"],
                      "rating": {"level": "basically", "contacted": True, "solved": False,
                                 "comment": "配件还没到,希望尽快"}}


@pytest.mark.parametrize("answers, rating", [
    (("是", "是", "满意", "跳过"), {"level": "satisfied", "contacted": True, "solved": True,
                                  "comment": None}),
    (("2 否", "2", "3", "没有"), {"level": "dissatisfied", "contacted": False, "solved": False,
                                "comment": None}),
    (("1 是", "1", "基本满意", "无"), {"level": "basically", "contacted": True, "solved": True,
                                   "comment": None})])
def test_every_way_of_answering(answers, rating):
    dialogue = Dialogue()
    state, _ = wechat.rating_started(CASE, NOW)
    for answer in answers:
        state, action = dialogue.handle(state, text(answer))
    assert state is None and action["rating"] == rating


@pytest.mark.parametrize("step, wrong", [
    ("contacted", "3"), ("contacted", "也许"), ("solved", "0"), ("level", "4"),
    ("level", "非常满意")])
def test_an_invalid_answer_asks_the_same_question_again(step, wrong):
    dialogue = Dialogue()
    state = {"step": step, "complaint_id": CASE["id"], "number": CASE["number"],
             "contacted": True, "solved": True, "at": NOW}
    same, action = dialogue.handle(state, text(wrong, at=NOW + 5))
    assert same == dict(state, at=NOW + 5)
    assert action["text"].startswith(wechat.RATE_AGAIN)
    assert wechat.RATE_QUESTIONS[step] in action["text"]


def test_a_comment_too_long_is_asked_again():
    state = {"step": "comment", "complaint_id": CASE["id"], "number": CASE["number"],
             "contacted": True, "solved": True, "level": "satisfied", "at": NOW}
    same, action = Dialogue().handle(state, text("好" * (wechat.COMMENT_MAX + 1)))
    assert same["step"] == "comment" and action["text"] == wechat.COMMENT_TOO_LONG


def test_a_rating_can_be_cancelled_or_queried_midway():
    dialogue = Dialogue()
    state, _ = wechat.rating_started(CASE, NOW)
    same, action = dialogue.handle(state, text("查询 JS-20261124-0007"))
    assert same == state and action["type"] == "query"
    state, action = dialogue.handle(state, text("取消"))
    assert state is None and action["text"] == wechat.CANCELLED


def test_an_abandoned_rating_expires():
    dialogue = Dialogue(ttl=1800)
    state, _ = wechat.rating_started(CASE, NOW)
    state, _ = dialogue.handle(state, text("1", at=NOW + 60))
    state, action = dialogue.handle(state, text("1", at=NOW + 60 + 1801))
    # the dialogue starts over: "1" is taken as the start of a filing, nothing is rated
    assert action["type"] == "reply" and state["step"] == "content"


def test_tencents_published_sample_message_decrypts():
    """Known-answer test: the sample of Tencent's WXBizMsgCrypt documentation and sample code
    (token QDG6eK, the published EncodingAESKey and AppID, msg_signature 4777…51f3e6): the
    same scheme the 公众号's safe mode uses, computed by Tencent, not by us."""
    encrypted = (
        "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3"
        "QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48"
        "kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izo"
        "un1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUa"
        "x5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl"
        "/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==")
    body = (f"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
    crypto = wechat.WeChatCrypto("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
                                 "wx5823bf96d3bd56c7")
    inner = crypto.decrypt(body, "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813",
                           "1372623149", now=1409659813)
    message = wechat.parse_message(inner)
    assert (message["from_user"], message["msg_type"], message["content"], message["msg_id"]) \
        == ("mycreate", "text", "hello", "4561255354251345929")
    with pytest.raises(wechat.WeChatRejected):      # one character of the signature off
        crypto.decrypt(body, "477715d11cdb4164915debcba66cb864d751f3e7", "1409659813",
                       "1372623149", now=1409659813)
    other_app = wechat.WeChatCrypto("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
                                    "wx0000000000000000")
    with pytest.raises(wechat.WeChatRejected):      # sealed for another AppID
        other_app.decrypt(body, "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813",
                          "1372623149", now=1409659813)
