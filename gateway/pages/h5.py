"""The complainant's H5 (issue 13): 我要反映, 我的诉求, the case page, 回访 and 查询.

Mobile first (375x667), WeUI's look, no inline script. Every page asks intake and rating by
RPC as the app's API does (gateway/service.py), on behalf of the signed-in complainant: a
WeChat user (`wechat:<openid>`, the same id the WeChat dialogue files under) or a campus
app user. A case the person may not read is a 404 as in the API.
"""
from __future__ import annotations

import secrets
import uuid

from werkzeug.wrappers import Response

from gateway import rating_page, schemas
from gateway.attachments import AttachmentRejected
from gateway.http import attachment_response
from gateway.pages import web
from gateway.pledges import PROMISE
from gateway.server import http
from services.common.contracts import RATING_LEVELS
from services.common.errors import Conflict, InvalidInput, JiesuError
from services.common.vocabulary import (COMMENT_MAX, COMMUNICATION_KINDS, CONTENT,
                                        LOCATION_MAX, OUTCOMES, TITLE_MAX)

# One line under each category card, so a person picks the right one without a manual.
CATEGORY_HINTS = {
    "education": "课程安排、教学质量、考试成绩、教材等",
    "logistics": "宿舍水电、食堂、维修、保洁、校园环境等",
    "security": "校园安全、门禁、消防、交通、失物等",
    "student_status": "注册、转专业、休复学、学籍证明等",
    "employment": "就业指导、招聘信息、实习、创业扶持等",
    "youth_league": "团学组织、社团活动、志愿服务等",
    "rewards_discipline": "奖学金、评优评先、违纪处分等",
    "finance": "学费缴纳、退费、助学金发放、报销等",
    "special_care": "家庭困难、心理关怀、身体不适等需要特别关心的情况",
    "epidemic": "疫情防控措施、健康监测、物资保障等",
}
# R3: the pledge in the words of the page that took it (a WeChat session or the campus app).
PLEDGES = {
    "wechat": f"诉求人在微信公众号网页提交前勾选确认:“{PROMISE}”。",
    "app": f"诉求人在校园App网页提交前勾选确认:“{PROMISE}”。",
}
PLEDGE_MISSING = "请勾选“如实反映”承诺后再提交。"
FIELD_MESSAGES = {
    "category": "请选择诉求类别。",
    "content": f"请填写诉求内容({CONTENT[0]}–{CONTENT[1]}字,不含特殊字符)。",
    "title": f"标题不超过{TITLE_MAX}字,不含特殊字符。",
    "location": f"地点不超过{LOCATION_MAX}字,不含特殊字符。",
    "contact_phone": "请填写有效的手机号或座机号(如 13912345678、0531-88117897)。",
    "anonymous": "匿名选项有误。",
}
RATING_MESSAGES = {
    "contacted": "请回答承办单位是否与您联系过。",
    "solved": "请回答问题是否已解决。",
    "level": "请选择满意度。",
    "comment": f"意见不超过{COMMENT_MAX}字,不含特殊字符。",
}
STEPS = ("受理", "派单", "签收", "办理", "答复", "评价")
# How many of the steps a case in each state has behind it. A case sent back (退单, 发回重办,
# 督办) waits to be dispatched again: the earlier round is on its timeline.
STEPS_DONE = {"received": 1, "returned": 1, "redo": 1, "supervised": 1, "assigned": 2,
              "signed": 3, "in_progress": 4, "replied": 5, "closed": 6}
EXTENSION_KINDS = ("extension_requested", "extension_decided", "deadline_extended")
MILESTONE_STATES = {"pending": "进行中", "done": "已完成", "overdue": "已逾期"}
RATING_NEXT = rating_page.NEXT
LOOKUP_PAGES, LOOKUP_PAGE_SIZE = 20, 500
HOME_LIMIT = 200
YES_NO = (("1", "是"), ("0", "否"))


def progress(case: dict) -> list[dict]:
    """The six steps with each one's state (done / current / todo) for the case page."""
    status = case.get("status")
    done = STEPS_DONE.get(status, 1)
    kinds = {line.get("kind") for line in case.get("timeline") or ()}
    if status == "signed" and ("communicate" in kinds or case.get("communications")):
        done = 4   # a call or a meeting is handling it, even before 开始办理
    ended = status in ("closed", "screened_out", "merged")
    steps = []
    for index, label in enumerate(STEPS):
        state = "done" if index < done else "current" if index == done and not ended \
            else "todo"
        steps.append({"label": label, "state": state})
    return steps


def _form_bool(value: str | None) -> bool:
    return value in ("1", "on", "true", "yes")


def _filing_key(given: str | None) -> str:
    """The form's one-time key: a double submit of one rendered form files once."""
    key = (given or "").strip()
    if 8 <= len(key) <= 80 and key.isprintable() and not web.FORBIDDEN_TEXT.search(key):
        return f"h5-{key}"
    return f"req-{uuid.uuid4()}"


class H5Pages:
    # --------------------------------------------------------------- helpers
    def _h5_channel(self, session: dict) -> str:
        return "wechat" if session.get("channel") == "wechat" else "app"

    def _my_cases(self, principal, pages: int = 1) -> list[dict]:
        """The person's cases, newest first (intake's complainant view, as the API's list)."""
        found: list[dict] = []
        for page in range(pages):
            batch = self.intake.list_cases(principal.as_complainant(), {
                "view": "all", "sort": "received", "limit": LOOKUP_PAGE_SIZE,
                "offset": page * LOOKUP_PAGE_SIZE})
            found.extend(batch)
            if len(batch) < LOOKUP_PAGE_SIZE:
                break
        return found

    def _file_form(self, session, values=None, errors=None, status=200) -> Response:
        values = dict(values or {})
        values.setdefault("filing_key", secrets.token_urlsafe(18))
        return self._render("h5/file.html", session, status, values=values,
                            errors=errors or {}, hints=CATEGORY_HINTS, content_limits=CONTENT,
                            title_max=TITLE_MAX, location_max=LOCATION_MAX,
                            max_photos=self.settings.max_attachments,
                            max_photo_bytes=self.settings.max_photo_bytes,
                            promise=PROMISE, tab="file")

    # --------------------------------------------------------------- 我的诉求
    @http("GET", "/h5/")
    @web.page(web.H5)
    def h5_home(self, request, session):
        principal = web.principal_of(session)
        cases = self.intake.list_cases(principal.as_complainant(),
                                       {"view": "all", "sort": "received", "limit": HOME_LIMIT})
        return self._render("h5/home.html", session, cases=cases, tab="home")

    # --------------------------------------------------------------- 我要反映
    @http("GET", "/h5/file")
    @web.page(web.H5)
    def h5_file_form(self, request, session):
        return self._file_form(session)

    @http("POST", "/h5/file")
    @web.page(web.H5)
    def h5_file(self, request, session):
        principal = web.principal_of(session)
        self.limits.check(principal.id, request.remote_addr)
        form = request.form
        values = {name: (form.get(name) or "") for name in
                  ("category", "content", "title", "location", "contact_phone", "filing_key")}
        values["anonymous"] = _form_bool(form.get("anonymous"))
        values["pledge"] = _form_bool(form.get("pledge"))
        body = {"category": values["category"], "content": values["content"],
                "title": values["title"].strip() or None,
                "location": values["location"].strip() or None,
                "contact_phone": values["contact_phone"].strip() or None,
                "anonymous": values["anonymous"]}
        errors = {field: FIELD_MESSAGES.get(field, "填写有误。")
                  for field in schemas.FileComplaintSchema().validate(body)}
        if not values["pledge"]:
            errors["pledge"] = PLEDGE_MISSING
        photos, problem = self._photos_of(request)
        if problem:
            errors["photos"] = problem
        if errors:
            if photos:
                errors.setdefault("photos", "请重新选择照片(出错后照片需重新选择)。")
            return self._file_form(session, values, errors, status=400)
        channel = self._h5_channel(session)
        try:
            filed = self.intake.file_complaint(body, principal.as_complainant(), channel,
                                               _filing_key(values["filing_key"]),
                                               PLEDGES[channel])
        except InvalidInput as refused:
            _, message = web.refusal(refused, "h5_file")
            return self._file_form(session, values, {"form": message}, status=400)
        failed = self._attach(filed["id"], principal, photos)
        web.flash(session, f"已提交,诉求编号 {filed['number']}", "success")
        if failed:
            web.flash(session, "部分照片未能上传:" + ";".join(failed), "error")
        return web.redirect(f"/h5/cases/{filed['id']}")

    def _photos_of(self, request) -> tuple[list[tuple[str, bytes]], str | None]:
        """The chosen photos (name, bytes), checked before anything is filed: a refused
        photo is said beside the form, and the case is not filed without it."""
        photos = []
        for upload in request.files.getlist("photos"):
            data = upload.read()
            if not data and not upload.filename:
                continue   # the empty part a browser sends when no file was chosen
            photos.append(((upload.filename or "")[:100] or None, data))
        try:
            self.attachments.check_count(0, len(photos))
            for name, data in photos:
                _, kind = self.attachments.inspect(data, name)
                if kind != "photo":
                    shown = f"“{name}”" if name else "该文件"
                    return photos, f"{shown}不是图片,请选择照片上传。"
        except AttachmentRejected as rejected:
            return photos, rejected.message_zh
        return photos, None

    def _attach(self, complaint_id: str, principal, photos) -> list[str]:
        """Store and record each photo as the API's upload does; what failed, in words."""
        failed = []
        for name, data in photos:
            try:
                stored = self.attachments.put(data, name)
                self.intake.add_attachment(complaint_id, principal.as_complainant(), {
                    "sha256": stored.sha256, "media_type": stored.media_type,
                    "kind": stored.kind, "size": stored.size})
            except AttachmentRejected as rejected:
                failed.append(rejected.message_zh)
            except JiesuError as refused:
                failed.append(web.refusal(refused, "h5_file")[1])
        return failed

    # --------------------------------------------------------------- the case
    @http("GET", "/h5/cases/<string:complaint_id>")
    @web.page(web.H5)
    def h5_case(self, request, session, complaint_id):
        return self._case_page(session, complaint_id)

    def _case_page(self, session, complaint_id, rating_values=None, rating_errors=None,
                   status=200) -> Response:
        principal = web.principal_of(session)
        case = self.intake.get_complaint(complaint_id, principal.as_complainant())
        timeline = case.get("timeline") or []
        extensions = [line for line in timeline if line.get("kind") in EXTENSION_KINDS]
        return self._render(
            "h5/case.html", session, status, case=case, steps=progress(case),
            extensions=extensions, timeline=list(reversed(timeline)),
            photos=[a for a in case.get("attachments") or () if a.get("kind") == "photo"],
            voices=[a for a in case.get("attachments") or () if a.get("kind") == "voice"],
            outcomes=OUTCOMES, communication_kinds=COMMUNICATION_KINDS,
            milestone_states=MILESTONE_STATES, rating_levels=RATING_LEVELS, yes_no=YES_NO,
            can_rate=case.get("status") == "replied", rating=rating_values or {},
            rating_errors=rating_errors or {}, comment_max=COMMENT_MAX)

    @http("GET", "/h5/cases/<string:complaint_id>/photos/<string:sha256>")
    @web.page(web.H5)
    def h5_photo(self, request, session, complaint_id, sha256):
        principal = web.principal_of(session)
        found = self.intake.get_attachment(complaint_id, sha256, principal.as_complainant())
        return attachment_response(self.attachments, found)

    # --------------------------------------------------------------- 回访
    @http("POST", "/h5/cases/<string:complaint_id>/rating")
    @web.page(web.H5)
    def h5_rate(self, request, session, complaint_id):
        principal = web.principal_of(session)
        form = request.form
        values = {name: form.get(name) or "" for name in ("contacted", "solved", "level",
                                                          "comment")}
        given = {name: values[name] for name in ("contacted", "solved", "level")}
        given["comment"] = values["comment"].strip() or None
        errors = {field: RATING_MESSAGES.get(field, "填写有误。")
                  for field in schemas.RatingPageFormSchema().validate(given)}
        if errors:
            return self._case_page(session, complaint_id, values, errors, status=400)
        answers = {"level": given["level"], "contacted": given["contacted"] == "1",
                   "solved": given["solved"] == "1", "comment": given["comment"]}
        try:
            rated = self.rating.rate(complaint_id, principal.as_complainant(), answers)
        except InvalidInput as refused:
            return self._case_page(session, complaint_id, values,
                                   {"form": web.refusal(refused, "h5_rate")[1]}, status=400)
        except Conflict:
            web.flash(session, "该诉求当前不在待评价状态(可能已评价或已办结)。", "error")
            return web.redirect(f"/h5/cases/{complaint_id}")
        label = rated.get("level_label") or RATING_LEVELS.get(answers["level"], "")
        web.flash(session, f"感谢您的评价({label})。" + RATING_NEXT.get(rated.get("decision"), ""),
                  "success")
        return web.redirect(f"/h5/cases/{complaint_id}")

    # --------------------------------------------------------------- 查询
    @http("GET", "/h5/lookup")
    @web.page(web.H5)
    def h5_lookup(self, request, session):
        number = (request.args.get("number") or "").strip().upper()
        if not number:
            return self._render("h5/lookup.html", session, number="", missing=False, tab="lookup")
        if len(number) > 40 or web.FORBIDDEN_TEXT.search(number):
            return self._render("h5/lookup.html", session, 400, number="", missing=True,
                                tab="lookup")
        principal = web.principal_of(session)
        # Intake lists a complainant's own cases and nobody else's: a number found there is
        # theirs, any other is 未找到 (whether or not it exists).
        for case in self._my_cases(principal, pages=LOOKUP_PAGES):
            if (case.get("number") or "").upper() == number:
                return web.redirect(f"/h5/cases/{case['id']}")
        return self._render("h5/lookup.html", session, number=number, missing=True,
                            tab="lookup")

