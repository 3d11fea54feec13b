"""The assessment as an Excel workbook (issue 12 §4): 汇总, 单位, 类别 and 案件台账.

`write_assessment_xlsx` takes the assessment in the API's shape (`GET
/api/v1/staff/assessment`: period, basis, from, to, version, frozen, groups of unit rows) and
an iterable of case rows for the ledger, and streams them into an xlsx:

- XlsxWriter's constant_memory mode: each row goes to a temporary file as soon as the next one
  starts, so a ledger of a million cases costs what one row costs. The price is that rows
  must be written in order, sheet by sheet, which is how everything here is written.
- The ledger is what staff read, so it is masked like every staff view (X5): phones in every
  free text, the contact phone by `mask_contact`, an anonymous complainant's name and id (and
  where they were typed into the text) replaced by 匿名诉求人.
- Nothing is capped silently: past Excel's 1,048,576 rows the ledger goes on in 案件台账(2),
  (3)…, a text past Excel's 32,767 characters per cell is cut with a visible note, and 汇总
  ends with how many cases the ledger holds and on which sheets.
- Cell text is never a formula or a link (a complaint may begin with "=": CSV/formula
  injection), whatever it holds.

A case row is a mapping with (every key optional) number, received_at, channel, category,
unit_name, status, anonymous, complainant_name, complainant_id, contact_phone, title, content,
reply, contacted, solved, level, comment, rated_at; datetimes (aware ones shown in Asia/
Shanghai) or ISO strings.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

import xlsxwriter

from services.common.access import ANONYMOUS_LABEL, redact_identity
from services.common.contracts import CATEGORIES, RATING_LEVELS, Status
from services.common.privacy import mask_contact, mask_phones

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL_CHARS = 32_767
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

GROUPS = {"department": "职能部门", "college": "二级学院"}
BASES = {"assessment": "考核口径", "full": "全口径"}
CHANNEL_LABELS = {"app": "网上受理", "wechat": "微信", "hotline": "热线电话",
                  "open311": "Open311 接口", "staff": "单位发现"}
UNRANKED = "未排名"   # fewer 有效回访 than min_rated: listed, not ranked
RED_BLACK_SIZE = 3    # 红榜/黑榜: the top and bottom three of each group

SHEET_SUMMARY, SHEET_UNITS, SHEET_CATEGORIES, SHEET_LEDGER = "汇总", "单位", "类别", "案件台账"

# (key, header, width, kind) — kind: int, pct (a 0–1 fraction shown as %), num, text
_FIGURES = (
    ("rated", "有效回访", 10, "int"),
    ("contacted", "已联系", 8, "int"),
    ("solved", "已解决", 8, "int"),
    ("satisfied", "满意", 7, "int"),
    ("basically", "基本满意", 9, "int"),
    ("dissatisfied", "不满意", 8, "int"),
    ("response_rate", "响应率", 9, "pct"),
    ("resolution_rate", "解决率", 9, "pct"),
    ("satisfaction_rate", "满意率", 9, "pct"),
    ("score", "综合得分", 10, "num"),
)
_OPERATIONS = (
    ("on_time_sign_rate", "及时签收率", 11, "pct"),
    ("on_time_reply_rate", "按时办结率", 11, "pct"),
    ("redo", "重办数", 8, "int"),
    ("supervised", "督办数", 8, "int"),
    ("overdue", "超期数", 8, "int"),
)
UNIT_COLUMNS = (
    ("group", "单位类型", 10, "text"),
    ("unit_id", "单位编号", 14, "text"),
    ("unit_name", "单位名称", 22, "text"),
    *_FIGURES,
    ("rank", "排名", 8, "rank"),
    *_OPERATIONS,
)
CATEGORY_COLUMNS = (
    ("category", "诉求类别", 14, "text"),
    *_FIGURES,
    *_OPERATIONS,
)
LEDGER_COLUMNS = (
    ("number", "案件编号", 20, "text"),
    ("received_at", "受理时间", 17, "datetime"),
    ("channel", "渠道", 10, "text"),
    ("category", "诉求类别", 11, "text"),
    ("unit_name", "承办单位", 20, "text"),
    ("status", "状态", 12, "text"),
    ("complainant_name", "诉求人", 12, "text"),
    ("complainant_id", "诉求人标识", 18, "text"),
    ("contact_phone", "联系电话", 15, "text"),
    ("title", "标题", 24, "text"),
    ("content", "诉求内容", 48, "text"),
    ("reply", "答复内容", 40, "text"),
    ("contacted", "是否联系", 9, "text"),
    ("solved", "是否解决", 9, "text"),
    ("level", "满意度", 10, "text"),
    ("comment", "评价意见", 30, "text"),
    ("rated_at", "评价时间", 17, "datetime"),
)
_FREE_TEXT = ("title", "content", "reply", "comment", "unit_name", "number")
# A rate's three columns in the units sheet, for the chart (header, column index)
_CHART_RATES = ("response_rate", "resolution_rate", "satisfaction_rate")


def write_assessment_xlsx(out, assessment: Mapping, cases: Iterable[Mapping] = (), *,
                          categories: Iterable[Mapping] | None = None,
                          max_rows: int = EXCEL_MAX_ROWS) -> int:
    """Write the workbook to `out` (a path or a binary file object); return the number of
    ledger rows written. `categories` (the by=category rows, each with `category` and the
    unit figures) defaults to `assessment["categories"]`; `cases` may be a generator, read
    once. `max_rows` is Excel's limit, smaller only in tests.

    The rows stream, the finished file does not: XlsxWriter zips it into `out` at the end,
    so a large ledger (75 bytes a case zipped in the tests, more with real texts) belongs in a
    file, not in a BytesIO. Writing is CPU-bound (about 5,000 cases a second), so under
    eventlet it belongs in a real thread (eventlet.tpool) or a process, not in a worker
    greenthread."""
    if max_rows < 2:
        raise ValueError("max_rows must leave room for a header and a row")
    workbook = xlsxwriter.Workbook(out, {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    })
    try:
        formats = _Formats(workbook)
        summary = workbook.add_worksheet(SHEET_SUMMARY)
        units = workbook.add_worksheet(SHEET_UNITS)
        by_category = workbook.add_worksheet(SHEET_CATEGORIES)
        next_summary_row = _write_summary(summary, assessment, formats)
        _write_units(workbook, units, assessment, formats)
        rows = assessment.get("categories", ()) if categories is None else categories
        _write_table(by_category, CATEGORY_COLUMNS, (_category_row(row) for row in rows),
                     formats)
        written, sheets = _write_ledger(workbook, cases, formats, max_rows)
        summary.write_string(next_summary_row, 0, "案件台账", formats.label)
        summary.write_string(
            next_summary_row, 1,
            f"共 {written} 件,工作表:{'、'.join(sheets)}(每表最多 {max_rows - 1} 行)",
            formats.text)
    finally:
        workbook.close()
    return written


class _Formats:
    def __init__(self, workbook):
        self.header = workbook.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1,
                                           "text_wrap": True, "valign": "vcenter"})
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.label = workbook.add_format({"bold": True})
        self.text = workbook.add_format({"valign": "top"})
        self.wrap = workbook.add_format({"valign": "top", "text_wrap": True})
        self.int = workbook.add_format({"num_format": "0"})
        self.num = workbook.add_format({"num_format": "0.00"})
        self.pct = workbook.add_format({"num_format": "0.00%"})
        self.datetime = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})


def _write_summary(sheet, assessment, formats) -> int:
    """The period's facts, totals per group and 红榜/黑榜; returns the next free row."""
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, 1, 60)
    sheet.set_column(2, 12, 11)
    period = assessment.get("period", "")
    sheet.write_string(0, 0, f"{period} 接诉即办考核汇总", formats.title)
    facts = (
        ("考核周期", str(period)),
        ("统计口径", BASES.get(assessment.get("basis"), str(assessment.get("basis", "")))),
        ("起", _text(_instant(assessment.get("from")))),
        ("止", _text(_instant(assessment.get("to")))),
        ("版本", _text(assessment.get("version"))),
        ("状态", "已发布(冻结)" if assessment.get("frozen") else "未发布(可能变化)"),
    )
    row = 2
    for label, value in facts:
        sheet.write_string(row, 0, label, formats.label)
        sheet.write_string(row, 1, value, formats.text)
        row += 1
    row += 1
    counts = [c for c in _FIGURES if c[3] == "int"] + [c for c in _OPERATIONS if c[3] == "int"]
    sheet.write_string(row, 0, "单位类型", formats.header)
    sheet.write_string(row, 1, "单位数", formats.header)
    for col, (_, header, _, _) in enumerate(counts, start=2):
        sheet.write_string(row, col, header, formats.header)
    row += 1
    for group, label in GROUPS.items():
        members = list(assessment.get("groups", {}).get(group, ()))
        sheet.write_string(row, 0, label, formats.text)
        sheet.write_number(row, 1, len(members), formats.int)
        for col, (key, _, _, _) in enumerate(counts, start=2):
            sheet.write_number(row, col, sum(m.get(key) or 0 for m in members), formats.int)
        row += 1
    row += 1
    for group, label in GROUPS.items():
        ranked = sorted((m for m in assessment.get("groups", {}).get(group, ())
                         if m.get("rank") is not None), key=lambda m: m["rank"])
        for board, members in (("红榜", ranked[:RED_BLACK_SIZE]),
                               ("黑榜", ranked[::-1][:RED_BLACK_SIZE])):
            names = "、".join(f"{m['rank']}. {m.get('unit_name') or m.get('unit_id')}"
                             f"({_score_text(m.get('score'))})" for m in members)
            sheet.write_string(row, 0, f"{label}{board}", formats.label)
            sheet.write_string(row, 1, names or "(无排名单位)", formats.text)
            row += 1
    return row + 1


def _write_units(workbook, sheet, assessment, formats):
    groups = assessment.get("groups", {})
    spans = []   # (group label, first row, last row) for the charts
    first = 1

    def rows():
        nonlocal first
        for group, label in GROUPS.items():
            members = groups.get(group, ())
            count = 0
            for member in members:
                count += 1
                yield {**member, "group": label}
            if count:
                spans.append((label, first, first + count - 1))
                first += count

    _write_table(sheet, UNIT_COLUMNS, rows(), formats)
    keys = [column[0] for column in UNIT_COLUMNS]
    name_col = keys.index("unit_name")
    anchor_col = len(UNIT_COLUMNS) + 1
    anchor_row = 1
    for label, top, bottom in spans:
        chart = workbook.add_chart({"type": "column"})
        for key in _CHART_RATES:
            col = keys.index(key)
            chart.add_series({
                "name": [sheet.name, 0, col],
                "categories": [sheet.name, top, name_col, bottom, name_col],
                "values": [sheet.name, top, col, bottom, col],
            })
        chart.set_title({"name": f"{label} 三率"})
        chart.set_y_axis({"num_format": "0%", "min": 0, "max": 1,
                          "major_gridlines": {"visible": True}})
        chart.set_legend({"position": "bottom"})
        width = max(640, 60 * (bottom - top + 1) + 160)
        chart.set_size({"width": width, "height": 360})
        sheet.insert_chart(anchor_row, anchor_col, chart)
        anchor_row += 20


def _write_table(sheet, columns, rows: Iterable[Mapping], formats, *, first_row: int = 1,
                 limit: int | None = None) -> int:
    """A header, the rows (only up to `limit` of them) and the sheet's widths and frozen
    header; returns how many rows it wrote."""
    for col, (_, header, width, kind) in enumerate(columns):
        sheet.set_column(col, col, width, formats.wrap if width >= 30 else None)
        sheet.write_string(0, col, header, formats.header)
    sheet.freeze_panes(1, 0)
    count = 0
    for row_index, row in enumerate(rows, start=first_row):
        for col, (key, _, _, kind) in enumerate(columns):
            _write_cell(sheet, row_index, col, row.get(key), kind, formats)
        count += 1
        if limit is not None and count >= limit:
            break
    if count:
        sheet.autofilter(0, 0, count, len(columns) - 1)
    return count


def _write_cell(sheet, row, col, value, kind, formats):
    if kind == "rank":
        if value is None:
            sheet.write_string(row, col, UNRANKED)
        else:
            sheet.write_number(row, col, value, formats.int)
    elif value is None or value == "":
        return
    elif kind in ("int", "num", "pct"):
        sheet.write_number(row, col, value, getattr(formats, kind))
    elif kind == "datetime":
        sheet.write_datetime(row, col, _local(value), formats.datetime)
    else:
        sheet.write_string(row, col, _fit(str(value)))


def _write_ledger(workbook, cases, formats, max_rows):
    """The ledger over as many sheets as Excel's row limit needs; returns (rows, sheet names)."""
    per_sheet = max_rows - 1
    rows = (_ledger_row(case) for case in cases)
    sheet = workbook.add_worksheet(SHEET_LEDGER)
    sheets, written = [sheet.name], 0
    while True:
        count = _write_table(sheet, LEDGER_COLUMNS, rows, formats, limit=per_sheet)
        written += count
        if count < per_sheet:
            return written, sheets
        following = next(rows, None)
        if following is None:
            return written, sheets
        sheet = workbook.add_worksheet(f"{SHEET_LEDGER}({len(sheets) + 1})")
        sheets.append(sheet.name)
        rows = _chain_one(following, rows)


def _chain_one(first, rest):
    yield first
    yield from rest


def _ledger_row(case: Mapping) -> dict:
    """A case as staff may read it: phones masked, an anonymous complainant hidden, codes in
    words."""
    anonymous = bool(case.get("anonymous"))
    name, complainant_id = case.get("complainant_name"), case.get("complainant_id")
    row = {}
    for key in _FREE_TEXT:
        text = case.get(key)
        if text:
            text = str(text)
            if anonymous:
                text = redact_identity(text, name, complainant_id)
            row[key] = mask_phones(text)
    if anonymous:
        row["complainant_name"] = row["complainant_id"] = ANONYMOUS_LABEL
    else:
        row["complainant_name"] = mask_phones(name) if name else name
        row["complainant_id"] = mask_phones(complainant_id) if complainant_id else complainant_id
    row["contact_phone"] = mask_contact(case.get("contact_phone"))
    row["received_at"] = case.get("received_at")
    row["rated_at"] = case.get("rated_at")
    row["channel"] = CHANNEL_LABELS.get(case.get("channel"), case.get("channel"))
    row["category"] = CATEGORIES.get(case.get("category"), case.get("category"))
    row["status"] = Status.LABELS.get(case.get("status"), case.get("status"))
    row["level"] = RATING_LEVELS.get(case.get("level"), case.get("level"))
    row["contacted"] = _yes_no(case.get("contacted"))
    row["solved"] = _yes_no(case.get("solved"))
    return row


def _category_row(row: Mapping) -> dict:
    return {**row, "category": CATEGORIES.get(row.get("category"), row.get("category"))}


def _yes_no(value):
    return None if value is None else ("是" if value else "否")


def _local(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(LOCAL_TZ).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise TypeError(f"not a date or time: {value!r}")


def _fit(text: str) -> str:
    """A text that fits Excel's cell, cut visibly (never silently) when it does not."""
    if len(text) <= EXCEL_MAX_CELL_CHARS:
        return text
    note = f"…(已截断,全文 {len(text)} 字,见系统)"
    return text[:EXCEL_MAX_CELL_CHARS - len(note)] + note


def _instant(value):
    """An ISO instant from the API shown as the local time it is, anything else as it is."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _local(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def _score_text(score) -> str:
    return "—" if score is None else f"{score:.2f} 分"
