"""WeChat Official Account (微信公众号) channel (R2): the server message protocol, pure.

No nameko, no I/O: the gateway feeds in the query string, the body and the clock, and gets back
text to answer with. What WeChat documents, and this module follows:

- URL verification and plain mode: `signature = sha1(sorted(token, timestamp, nonce))`, hex.
- Safe mode (消息加解密): `msg_signature = sha1(sorted(token, timestamp, nonce, encrypt))`;
  AES-256-CBC, key = base64(EncodingAESKey + "="), IV = key[:16]; plaintext = 16 random bytes,
  4-byte big-endian length, the XML, the AppID; PKCS#7 padded to 32-byte blocks.
  There is no MAC: the token-keyed signature is the integrity check, so it is checked first.
- Messages are small XML documents; parsed with defusedxml (no DTD, no entities: no XXE, no
  billion laughs) and a size limit.
- WeChat retries a message it got no answer to within 5 s (three times): `dedup_key` names a
  message so that the retry files nothing twice (use it as intake's `filing_key`).

`Dialogue` is the filing conversation (free text → category 1–10 → the pledge of truth, R3 →
file) and the 回访 (「评价」 or 「评价 编号」 → 是否联系 → 是否解决 → 满意度 → an optional comment
→ rate), a state machine over a small JSON-able dict the gateway keeps per openid.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import unicodedata
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from gateway.http import MAX_BODY_BYTES as MAX_BYTES
from gateway.sessions import sessions_for
from services.common.contracts import CATEGORIES

MAX_SKEW = 300          # seconds either side of our clock
BLOCK = 32              # WeChat pads to 32 bytes, not AES's 16
CATEGORY_CODES = list(CATEGORIES)   # 1-based numbers in the dialogue follow this order
CONTENT_MIN, CONTENT_MAX = 5, 5000  # as intake's FileComplaintSchema
DIALOGUE_TTL = 30 * 60  # a filing left half-way for this long starts over
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


class WeChatRejected(Exception):
    """The request is not from WeChat, or is not a message we accept. Answer 400/403 and log
    the reason; never echo it to the caller in detail."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def _check_skew(timestamp, now: float, max_skew: int) -> None:
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        raise WeChatRejected("timestamp is not an integer")
    if abs(now - sent) > max_skew:
        raise WeChatRejected("timestamp is outside the allowed window")


def _parse(text: str | bytes, max_bytes: int):
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(raw) > max_bytes:
        raise WeChatRejected("body is too large")
    if not raw.strip():
        raise WeChatRejected("body is empty")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise WeChatRejected("XML with a DTD or entities is refused")
    except ParseError:
        raise WeChatRejected("body is not well-formed XML")
    if root.tag != "xml":
        raise WeChatRejected("root element is not <xml>")
    return root


def _fields(root) -> dict[str, str]:
    return {child.tag: (child.text or "") for child in root}


def _cdata(value: str) -> str:
    value = _CONTROL.sub("", str(value))
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class WeChatCrypto:
    def __init__(self, token: str, encoding_aes_key: str, app_id: str):
        if not token:
            raise ValueError("token is required")
        if len(encoding_aes_key or "") != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise ValueError("EncodingAESKey is not base64")
        if len(key) != 32:
            raise ValueError("EncodingAESKey does not decode to 32 bytes")
        self.token = token
        self.key = key
        self.app_id = app_id

    # -- signatures -------------------------------------------------------------------------

    def signature(self, timestamp, nonce) -> str:
        return _sha1_sorted(self.token, str(timestamp), str(nonce))

    def msg_signature(self, timestamp, nonce, encrypt: str) -> str:
        return _sha1_sorted(self.token, str(timestamp), str(nonce), encrypt)

    def check_signature(self, signature, timestamp, nonce, now: float,
                        max_skew: int = MAX_SKEW) -> None:
        """URL verification (GET) and plain-mode messages (POST `signature`)."""
        if not signature or not hmac.compare_digest(
                str(signature).encode(), self.signature(timestamp, nonce).encode()):
            raise WeChatRejected("bad signature")
        _check_skew(timestamp, now, max_skew)

    def verify_url(self, signature, timestamp, nonce, echostr, now: float,
                   max_skew: int = MAX_SKEW) -> str:
        """GET /wechat: the body to answer with, `echostr` as given, once the signature holds.
        (For an Official Account, `echostr` is plain even in safe mode.)"""
        self.check_signature(signature, timestamp, nonce, now, max_skew)
        if not echostr:
            raise WeChatRejected("echostr is missing")
        return str(echostr)

    # -- safe mode --------------------------------------------------------------------------

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, xml_text: str, nonce, timestamp, random_prefix: bytes | None = None) -> str:
        """The encrypted reply envelope for `xml_text` (e.g. a `text_reply`)."""
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("random_prefix must be 16 bytes")
        msg = xml_text.encode("utf-8")
        plain = prefix + struct.pack(">I", len(msg)) + msg + self.app_id.encode("utf-8")
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        encrypt = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")
        signature = self.msg_signature(timestamp, nonce, encrypt)
        return (f"<xml><Encrypt>{_cdata(encrypt)}</Encrypt>"
                f"<MsgSignature>{_cdata(signature)}</MsgSignature>"
                f"<TimeStamp>{int(timestamp)}</TimeStamp>"
                f"<Nonce>{_cdata(str(nonce))}</Nonce></xml>")

    def decrypt(self, envelope_xml: str | bytes, msg_signature, timestamp, nonce, now: float,
                max_skew: int = MAX_SKEW, max_bytes: int = MAX_BYTES) -> str:
        """POST /wechat?encrypt_type=aes: the inner message XML, once everything holds."""
        encrypt = _fields(_parse(envelope_xml, max_bytes)).get("Encrypt", "").strip()
        if not encrypt:
            raise WeChatRejected("envelope has no Encrypt")
        expected = self.msg_signature(timestamp, nonce, encrypt)
        if not msg_signature or not hmac.compare_digest(str(msg_signature).encode(),
                                                        expected.encode()):
            raise WeChatRejected("bad msg_signature")
        _check_skew(timestamp, now, max_skew)
        try:
            sealed = base64.b64decode(encrypt, validate=True)
        except binascii.Error:
            raise WeChatRejected("Encrypt is not base64")
        if not sealed or len(sealed) % BLOCK:
            raise WeChatRejected("ciphertext length is not a multiple of the block size")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(sealed) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise WeChatRejected("bad padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise WeChatRejected("plaintext is too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise WeChatRejected("bad message length")
        msg, app_id = plain[20:20 + length], plain[20 + length:]
        if not hmac.compare_digest(app_id, self.app_id.encode("utf-8")):
            raise WeChatRejected("appid does not match")
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError:
            raise WeChatRejected("message is not UTF-8")


# -- messages -------------------------------------------------------------------------------

REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


def parse_message(xml_text: str | bytes, max_bytes: int = MAX_BYTES) -> dict:
    """A message WeChat pushed (plain body, or `decrypt`'s result) as a flat dict."""
    fields = _fields(_parse(xml_text, max_bytes))
    missing = [name for name in REQUIRED if not fields.get(name, "").strip()]
    msg_type = fields.get("MsgType", "").strip()
    if msg_type == "text":
        missing += [name for name in ("Content", "MsgId") if name not in fields]
    elif msg_type == "event":
        missing += [name for name in ("Event",) if not fields.get(name, "").strip()]
    elif msg_type:
        missing += [name for name in ("MsgId",) if name not in fields]
    if missing:
        raise WeChatRejected(f"missing fields: {', '.join(missing)}")
    try:
        create_time = int(fields["CreateTime"])
    except ValueError:
        raise WeChatRejected("CreateTime is not an integer")
    msg_id = fields.get("MsgId", "").strip() or None
    if msg_id is not None and not msg_id.isdigit():
        raise WeChatRejected("MsgId is not a number")
    event = fields.get("Event", "").strip() or None
    return {
        "to_user": fields["ToUserName"].strip(),
        "from_user": fields["FromUserName"].strip(),
        "create_time": create_time,
        "msg_type": msg_type,
        "content": fields.get("Content") if msg_type == "text" else None,
        "msg_id": msg_id,
        # WeChat documents `subscribe`, `CLICK`, `VIEW`...: case varies, so compare lower.
        "event": event.lower() if event else None,
        "event_key": fields.get("EventKey", "").strip() or None,
    }


def text_reply(to_user: str, from_user: str, content: str, now: float) -> str:
    """A passive reply (被动回复) to the user `to_user` (their openid) from our account."""
    return (f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>"
            f"<FromUserName>{_cdata(from_user)}</FromUserName>"
            f"<CreateTime>{int(now)}</CreateTime>"
            f"<MsgType>{_cdata('text')}</MsgType>"
            f"<Content>{_cdata(content)}</Content></xml>")


def dedup_key(message: dict) -> str:
    """The same for WeChat's retries of one message: MsgId, or for events (which have none)
    the sender and CreateTime."""
    if message.get("msg_id"):
        return f"wechat:msg:{message['msg_id']}"
    return f"wechat:event:{message['from_user']}:{message['create_time']}"


# -- the filing dialogue --------------------------------------------------------------------

PLEDGE = "您对所反映情况的真实性负责(如实反映),请勿捏造、歪曲事实。"
WELCOME = ("欢迎关注接诉即办!您可以在这里反映学习、生活中遇到的问题,学校将限时办理并答复。\n"
           "· 反映问题:直接发送文字描述(或点菜单「我要反映」),再按提示选择类别并确认;\n"
           "· 查询进度:发送「查询 编号」,如 查询 JS-20261124-0007;\n"
           "· 评价办理结果:收到答复后发送「评价」或「评价 编号」;\n"
           "· 随时发送「取消」放弃本次反映。\n" + PLEDGE)
START = "请用文字描述您要反映的情况(时间、地点、经过、诉求),5–5000 字。发送「取消」可放弃。"
QUERY_HELP = "查询办理进度:请发送「查询 编号」,如 查询 JS-20261124-0007。编号见受理回复。"
CATEGORY_PROMPT = ("请回复数字选择类别:\n"
                   + "\n".join(f"{i} {CATEGORIES[code]}" for i, code in
                               enumerate(CATEGORY_CODES, 1))
                   + "\n发送「取消」可放弃。")
NOT_ACCEPTED = "未能受理:"
CANCELLED = "已取消本次反映。需要时可随时重新发送文字描述。"
NOTHING_TO_CANCEL = "当前没有进行中的反映。"
TEXT_ONLY = "目前仅支持文字反映,请用文字描述您的问题。"
TOO_SHORT = f"描述太短了,请至少写 {CONTENT_MIN} 个字,说明时间、地点和诉求。"
TOO_LONG = f"描述太长了,请控制在 {CONTENT_MAX} 字以内。"

_QUERY = re.compile(r"^查询\s*([A-Za-z0-9][A-Za-z0-9-]{3,39})$")
_RATE = re.compile(r"^评价(?:\s*([A-Za-z0-9][A-Za-z0-9-]{3,39}))?$")
_CANCEL = {"取消", "2 取消"}
_CONFIRM = {"1", "确认", "1 确认"}


# The 回访 (issue 12): three questions and a comment, as the app and the SMS page ask them.
COMMENT_MAX = 1000   # as rating's RateSchema
YES_NO = {"1": True, "是": True, "1 是": True, "2": False, "否": False, "2 否": False}
LEVEL_CHOICES = {"1": "satisfied", "满意": "satisfied", "1 满意": "satisfied",
                 "2": "basically", "基本满意": "basically", "2 基本满意": "basically",
                 "3": "dissatisfied", "不满意": "dissatisfied", "3 不满意": "dissatisfied"}
_SKIP = {"跳过", "无", "没有"}
RATE_HELP = "评价办理结果:请发送「评价 编号」,如 评价 JS-20261124-0007。"
RATE_QUESTIONS = {
    "contacted": "1/3 承办单位是否与您联系过?\n回复 1 是,2 否。",
    "solved": "2/3 您反映的问题是否已解决?\n回复 1 是,2 否。",
    "level": "3/3 您对办理结果是否满意?\n回复 1 满意,2 基本满意,3 不满意。",
    "comment": f"还有什么想说的吗?请直接回复您的意见({COMMENT_MAX} 字以内),或回复「跳过」。",
}
RATE_AGAIN = "请按提示回复数字。"
# What follows the rating (rating's decision, R9).
RATED_NEXT = {"close": "诉求已办结。", "order_redo": "我们已将诉求发回重办,将督促承办单位重新办理。",
              "supervise": "诉求已纳入督办,由分管校领导批示办理。"}
COMMENT_TOO_LONG = f"意见太长了,请控制在 {COMMENT_MAX} 字以内,或回复「跳过」。"


def rating_started(case: dict, now: int) -> tuple[dict, str]:
    """The first question of the 回访 of `case` (found by the gateway: the user's, replied)."""
    state = {"step": "contacted", "complaint_id": case["id"], "number": case["number"],
             "at": now}
    return state, (f"请对诉求 {case['number']} 的办理结果进行评价(发送「取消」可放弃)。\n"
                   + RATE_QUESTIONS["contacted"])


def confirm_prompt(category: str, content: str) -> str:
    excerpt = content if len(content) <= 60 else content[:60] + "…"
    return (f"类别:{CATEGORIES[category]}\n内容:{excerpt}\n"
            f"请确认您反映的情况真实、准确,并对其真实性负责(如实反映)。\n"
            f"回复「1 确认」提交,「2 取消」放弃。")


def reply(text: str) -> dict:
    return {"type": "reply", "text": text}


IGNORE = {"type": "ignore"}   # answer WeChat "success": no message to the user


class Dialogue:
    """`handle(state, message) -> (new_state, action)`.

    state: None (idle) or {"step": "content" | "category" | "confirm", "content", "category",
    "at"} while filing, or {"step": "contacted" | "solved" | "level" | "comment",
    "complaint_id", "number", "contacted", "solved", "level", "at"} while rating; keep it per
    openid (it is JSON). action: {"type": "reply", "text"},
    {"type": "file", "category", "content"} (file it, then reply with the number),
    {"type": "query", "number"} (look it up, reply with its status),
    {"type": "rate_start", "number" or None} (find the user's replied case, then
    `rating_started`), {"type": "rate", "complaint_id", "number", "rating"} (rate it), or
    {"type": "ignore"}.
    """

    def __init__(self, ttl: int = DIALOGUE_TTL):
        self.ttl = ttl

    def handle(self, state: dict | None, message: dict) -> tuple[dict | None, dict]:
        now = message["create_time"]
        if state and now - state.get("at", now) > self.ttl:
            state = None   # abandoned half-way: start over rather than file a stale draft
        if message["msg_type"] == "event":
            return self._event(state, message)
        if message["msg_type"] != "text":
            return state, reply(TEXT_ONLY)
        text = unicodedata.normalize("NFKC", message["content"] or "").strip()
        command = re.sub(r"\s+", " ", text)   # for matching commands only
        if command in _CANCEL:
            return None, reply(CANCELLED if state else NOTHING_TO_CANCEL)
        query = _QUERY.match(command)
        if query:
            return state, {"type": "query", "number": query.group(1).upper()}
        if command in ("查询", "查询进度"):
            return state, reply(QUERY_HELP)
        rate = _RATE.match(command)
        if rate:
            number = rate.group(1)
            return None, {"type": "rate_start", "number": number.upper() if number else None}
        if command.lower() in ("帮助", "help", "?"):
            return state, reply(WELCOME)
        step = state["step"] if state else "content"
        if step in RATE_QUESTIONS:
            return self._rating(state, step, command, text, now)
        if step == "category":
            return self._category(state, text, now)
        if step == "confirm":
            return self._confirm(state, command, now)
        return self._content(text, now)

    def _event(self, state, message):
        event, key = message["event"], (message["event_key"] or "").upper()
        if event == "subscribe":
            return None, reply(WELCOME)
        if event == "unsubscribe":
            return None, IGNORE
        if event == "click" and key == "FILE":
            return {"step": "content", "at": message["create_time"]}, reply(START)
        if event == "click" and key == "QUERY":
            return state, reply(QUERY_HELP)
        if event == "click" and key == "RATE":
            return None, {"type": "rate_start", "number": None}
        return state, IGNORE

    def _content(self, text, now):
        if len(text) < CONTENT_MIN:
            return {"step": "content", "at": now}, reply(TOO_SHORT)
        if len(text) > CONTENT_MAX:
            return {"step": "content", "at": now}, reply(TOO_LONG)
        return {"step": "category", "content": text, "at": now}, reply(CATEGORY_PROMPT)

    def _category(self, state, text, now):
        if text.isdigit() and 1 <= int(text) <= len(CATEGORY_CODES):
            category = CATEGORY_CODES[int(text) - 1]
            return ({"step": "confirm", "content": state["content"], "category": category,
                     "at": now}, reply(confirm_prompt(category, state["content"])))
        return dict(state, at=now), reply(f"请回复 1–{len(CATEGORY_CODES)} 的数字。\n"
                                          + CATEGORY_PROMPT)

    def _rating(self, state, step, command, text, now):
        """One answer of the 回访; a wrong one asks the same question again."""
        if step in ("contacted", "solved"):
            if command not in YES_NO:
                return dict(state, at=now), reply(f"{RATE_AGAIN}\n{RATE_QUESTIONS[step]}")
            following = "solved" if step == "contacted" else "level"
            return (dict(state, step=following, at=now, **{step: YES_NO[command]}),
                    reply(RATE_QUESTIONS[following]))
        if step == "level":
            if command not in LEVEL_CHOICES:
                return dict(state, at=now), reply(f"{RATE_AGAIN}\n{RATE_QUESTIONS['level']}")
            return (dict(state, step="comment", level=LEVEL_CHOICES[command], at=now),
                    reply(RATE_QUESTIONS["comment"]))
        if len(text) > COMMENT_MAX:
            return dict(state, at=now), reply(COMMENT_TOO_LONG)
        comment = None if command in _SKIP or not text else text
        return None, {"type": "rate", "complaint_id": state["complaint_id"],
                      "number": state["number"],
                      "rating": {"level": state["level"], "contacted": state["contacted"],
                                 "solved": state["solved"], "comment": comment}}

    def _confirm(self, state, text, now):
        if text in _CONFIRM:
            return None, {"type": "file", "category": state["category"],
                          "content": state["content"]}
        if text == "2":
            return None, reply(CANCELLED)
        return dict(state, at=now), reply(confirm_prompt(state["category"], state["content"]))


@dataclass(frozen=True)
class Channel:
    """The 公众号 as the gateway serves it: the crypto from the settings (None: not
    connected), the filing dialogue, and the sessions store (gateway/sessions.py) that keeps
    each user's dialogue state and the replies of the last minute: this process's memory, or
    Redis shared by every replica (`gateway_state_url`)."""
    crypto: WeChatCrypto | None
    dialogue: Dialogue
    sessions: object

    @classmethod
    def from_settings(cls, settings) -> "Channel":
        crypto = WeChatCrypto(settings.wechat_token, settings.wechat_aes_key or "A" * 43,
                              settings.wechat_app_id) if settings.wechat_token else None
        return cls(crypto, Dialogue(), sessions_for(settings.gateway_state_url))
