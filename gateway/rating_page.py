"""The 回访 page an SMS links to (issue 12): /r/<token>, for a hotline caller with no app.

A minimal mobile HTML form, with no external asset and no script: 是否联系, 是否解决, 满意度 and
a comment, posted back to the same address. The token (services/common/rating_link.py) is
the only credential: no cookie is set or read, so there is nothing for a forged cross-site
form to ride on, and rating takes one rating per reply whoever posts it. Everything shown is
escaped; the page may not be framed, cached, or leak its address as a Referer.
"""
from __future__ import annotations

from html import escape

from werkzeug.wrappers import Response

from gateway.schemas import RatingPageFormSchema
from services.common.contracts import RATING_LEVELS

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}
STYLE = ("body{font-family:sans-serif;margin:0 auto;max-width:32em;padding:1em;line-height:1.5}"
         "fieldset{border:1px solid #ccc;border-radius:6px;margin:0 0 1em}"
         "label{display:block;padding:.4em 0}textarea{width:100%;box-sizing:border-box}"
         "button{width:100%;padding:.8em;font-size:1.1em}.error{color:#b00}")
QUESTIONS = (("contacted", "承办单位是否与您联系过?", (("1", "是"), ("0", "否"))),
             ("solved", "您反映的问题是否已解决?", (("1", "是"), ("0", "否"))),
             ("level", "您对办理结果是否满意?", tuple(RATING_LEVELS.items())))
NEXT = {"close": "诉求已办结。", "order_redo": "我们已将诉求发回重办,将督促承办单位重新办理。",
        "supervise": "诉求已纳入督办,由分管校领导批示办理。"}

INVALID = (404, "链接无效", "该评价链接无效,请核对短信中的链接是否完整。")
EXPIRED = (410, "链接已过期", "该评价链接已过期。如需反映意见,请拨打24小时热线。")
NOT_OPEN = (409, "无需评价", "该诉求当前不在待评价状态(已评价或已办结),感谢您的关注。")
NOT_FOUND = (404, "未找到诉求", "未找到该诉求。")
BUSY = (503, "系统繁忙", "系统繁忙,请稍后再打开此链接。")
NOT_A_FORM = (415, "无法提交", "请通过评价页面提交。")


def page(status: int, title: str, body: str) -> Response:
    html = (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")
    headers = dict(HEADERS, **({"Retry-After": "5"} if status == 503 else {}))
    return Response(html, status=status, mimetype="text/html", headers=headers)


def notice(status: int, title: str, text: str) -> Response:
    return page(status, title, f"<p>{escape(text)}</p>")


def form(case: dict, error: str | None = None, given: dict | None = None,
         status: int = 200) -> Response:
    """The three questions and the comment for `case` (the complainant's view of it)."""
    given = given or {}
    parts = [f"<p>诉求编号:{escape(case['number'])}</p>"]
    if case.get("unit_name"):
        parts.append(f"<p>承办单位:{escape(case['unit_name'])}</p>")
    if case.get("reply_text"):
        parts.append(f"<p>答复:{escape(case['reply_text'])}</p>")
    if error:
        parts.append(f'<p class="error">{escape(error)}</p>')
    parts.append('<form method="post">')
    for name, question, choices in QUESTIONS:
        options = "".join(
            f'<label><input type="radio" name="{name}" value="{escape(value)}" required'
            f'{" checked" if given.get(name) == value else ""}> {escape(label)}</label>'
            for value, label in choices)
        parts.append(f"<fieldset><legend>{escape(question)}</legend>{options}</fieldset>")
    parts.append('<label>您的意见(可不填):<textarea name="comment" rows="4" maxlength="1000">'
                 f'{escape(given.get("comment") or "")}</textarea></label>'
                 '<button type="submit">提交评价</button></form>')
    return page(status, "办理结果评价", "".join(parts))


def rating_of(fields: dict) -> tuple[dict | None, str | None]:
    """The form's answers as rating takes them, or why they cannot be."""
    errors = RatingPageFormSchema().validate(fields)
    if errors:
        return None, "请回答全部三个问题(意见不超过1000字)。"
    comment = (fields.get("comment") or "").strip() or None
    return {"level": fields["level"], "contacted": fields["contacted"] == "1",
            "solved": fields["solved"] == "1", "comment": comment}, None


def thanks(rated: dict, number: str) -> Response:
    return notice(200, "感谢您的评价",
                  f"诉求 {number}:{rated.get('level_label') or ''}。"
                  + NEXT.get(rated.get("decision"), ""))
