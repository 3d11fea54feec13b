"""A 周汇总 / 月总结 as an Excel workbook (issue 12 §3, §4), from the summary the API answers
(`GET /api/v1/staff/summaries/{id}`): 汇总 (counts with 环比, by channel and category),
单位 (三率, score and rank per unit, with a native chart of the 三率), 预警催办, 督办 and
调度会 (each item with its unit and handler).

The summary is already what staff may read (titles masked, no complainant), so nothing here
unmasks or adds anything; cell text is never a formula or a link. Each sheet has a frozen
header row, set column widths, and rates formatted as percentages.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import xlsxwriter

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
GROUPS = {"department": "职能部门", "college": "二级学院", "other": "其他"}
SHEETS = ("汇总", "单位", "预警催办", "督办", "调度会")
MEETING = {"redone": "发回重办", "supervised": "督办", "returned": "多次退单",
           "long_open": "超过3个工作日未办结", "disputed": "争议件"}

COUNT_COLUMNS = (("label", "项目", 24, "text"), ("count", "本期", 10, "int"),
                 ("previous", "上期", 10, "int"), ("change", "增减", 10, "int"),
                 ("ratio", "环比", 10, "pct"))
UNIT_COLUMNS = (("group", "单位类型", 10, "text"), ("unit_name", "单位名称", 22, "text"),
                ("rated", "有效回访", 10, "int"), ("response_rate", "响应率", 10, "pct"),
                ("resolution_rate", "解决率", 10, "pct"),
                ("satisfaction_rate", "满意率", 10, "pct"), ("score", "综合得分", 10, "num"),
                ("rank", "排名", 8, "rank"), ("roll", "红黑榜", 8, "text"))
ITEM_COLUMNS = (("list", "类别", 16, "text"), ("number", "案件编号", 20, "text"),
                ("title", "标题", 36, "text"), ("unit_name", "承办单位", 20, "text"),
                ("handler_name", "承办人", 12, "text"), ("due_at", "时限", 17, "datetime"),
                ("extra", "说明", 14, "text"))
RATE_COLUMNS = ("response_rate", "resolution_rate", "satisfaction_rate")


def write_summary_xlsx(out, summary: Mapping) -> None:
    """Write the workbook of `summary` (the API's JSON) to `out`, a path or a binary file."""
    content = summary["content"]
    workbook = xlsxwriter.Workbook(out, {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False})
    try:
        formats = _formats(workbook)
        _counts(workbook.add_worksheet(SHEETS[0]), summary, content, formats)
        _units(workbook, workbook.add_worksheet(SHEETS[1]), content, formats)
        items = []
        for key, label in (("overdue", "预警(已超期)"), ("due_soon", "催办(24工作小时内到期)")):
            for unit in content[key]["by_unit"]:
                items += [dict(item, list=label) for item in unit["items"]]
        _table(workbook.add_worksheet(SHEETS[2]), ITEM_COLUMNS, items, formats)
        _table(workbook.add_worksheet(SHEETS[3]), ITEM_COLUMNS,
               [dict(item, list="督办", extra=item.get("instruction"))
                for item in content["supervised"]], formats)
        _table(workbook.add_worksheet(SHEETS[4]), ITEM_COLUMNS,
               [dict(item, list=label) for key, label in MEETING.items()
                for item in content["meeting"].get(key, [])], formats)
    finally:
        workbook.close()


def _formats(workbook) -> dict:
    return {"header": workbook.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1,
                                           "text_wrap": True, "valign": "vcenter"}),
            "title": workbook.add_format({"bold": True, "font_size": 14}),
            "text": workbook.add_format({"valign": "top"}),
            "int": workbook.add_format({"num_format": "0"}),
            "num": workbook.add_format({"num_format": "0.00"}),
            "pct": workbook.add_format({"num_format": "0.00%"}),
            "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})}


def _header(sheet, columns, formats, row: int = 0) -> None:
    for col, (_key, header, width, _kind) in enumerate(columns):
        sheet.set_column(col, col, width)
        sheet.write_string(row, col, header, formats["header"])
    sheet.freeze_panes(row + 1, 0)


def _cell(sheet, row, col, value, kind, formats) -> None:
    if value is None or value == "":
        sheet.write_blank(row, col, None)
    elif kind in ("int", "num", "pct") and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        sheet.write_number(row, col, value, formats[kind])
    elif kind == "rank":
        sheet.write_number(row, col, value, formats["int"]) if isinstance(value, int) \
            else sheet.write_string(row, col, str(value), formats["text"])
    elif kind == "datetime" and isinstance(value, str):
        moment = datetime.fromisoformat(value).astimezone(LOCAL_TZ).replace(tzinfo=None)
        sheet.write_datetime(row, col, moment, formats["datetime"])
    else:
        sheet.write_string(row, col, str(value), formats["text"])


def _table(sheet, columns, rows, formats, first: int = 1) -> int:
    _header(sheet, columns, formats, first - 1)
    row = first
    for values in rows:
        for col, (key, _header_text, _width, kind) in enumerate(columns):
            _cell(sheet, row, col, values.get(key), kind, formats)
        row += 1
    return row


def _counts(sheet, summary, content, formats) -> None:
    received = content["received"]
    rows = [dict(received, label="受理总量"), dict(content["closed"], label="办结量")]
    rows += [dict(r, label=f"渠道:{r['label']}") for r in received["by_channel"]]
    rows += [dict(r, label=f"类别:{r['label']}") for r in received["by_category"]]
    end = _table(sheet, COUNT_COLUMNS, rows, formats)
    sheet.write_string(end + 1, 0, summary["title"], formats["title"])
    sheet.write_string(end + 2, 0, f"期间 {summary['period']}(上期 {content['previous_period']})",
                       formats["text"])
    sheet.write_string(end + 3, 0, f"生成于 {summary['generated_at']}", formats["text"])


def _units(workbook, sheet, content, formats) -> None:
    assessment = content.get("assessment") or {"groups": {}, "red": {}, "black": {}}
    rows = []
    for kind, group in assessment["groups"].items():
        red, black = set(assessment["red"].get(kind) or ()), \
            set(assessment["black"].get(kind) or ())
        for row in group:
            name = row.get("unit_name") or row.get("unit_id")
            rows.append(dict(row, group=GROUPS.get(kind, kind), unit_name=name,
                             rank=row.get("rank") if row.get("rank") is not None else "未排名",
                             roll="红榜" if name in red else "黑榜" if name in black else ""))
    end = _table(sheet, UNIT_COLUMNS, rows, formats)
    if len(rows) == 0:
        return
    chart = workbook.add_chart({"type": "column"})
    keys = [key for key, *_ in UNIT_COLUMNS]
    for key in RATE_COLUMNS:
        col = keys.index(key)
        chart.add_series({"name": [sheet.name, 0, col],
                          "categories": [sheet.name, 1, 1, end - 1, 1],
                          "values": [sheet.name, 1, col, end - 1, col]})
    chart.set_title({"name": "各单位三率"})
    chart.set_y_axis({"num_format": "0%", "max": 1})
    sheet.insert_chart(end + 1, 1, chart, {"x_scale": 1.6, "y_scale": 1.2})
