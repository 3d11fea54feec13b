"""Issue 12 §4: the PNG charts draw Chinese with a CJK font (no "Glyph … missing from font"
warning), are valid PNGs of a sensible size, and refuse clearly when no CJK font is there."""
import io
import logging
import struct
import warnings
from datetime import date, timedelta

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from services.rating import charts
from services.rating.charts import (
    CjkFontMissing, cjk_font, rates_png, received_per_day_png, seasonal_png)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WECOM_IMAGE_LIMIT = 2 * 1024 * 1024

UNITS = [
    {"unit_name": "后勤保障处", "response_rate": 0.95, "resolution_rate": 0.85,
     "satisfaction_rate": 0.885},
    {"unit_name": "教务处", "response_rate": 0.9, "resolution_rate": 0.7,
     "satisfaction_rate": 0.78},
    {"unit_name": "计算机学院", "response_rate": 1.0, "resolution_rate": 0.9167,
     "satisfaction_rate": 0.9833},
    {"unit_name": "财务处", "response_rate": 1.0, "resolution_rate": 1.0,
     "satisfaction_rate": None},
]
START = date(2026, 10, 19)
PER_DAY = [(START + timedelta(days=d), category, (d * 7 + i * 3) % 11)
           for d in range(31) for i, category in enumerate(("logistics", "education",
                                                            "security", "finance"))]
MONTHS = [f"{2025 + (m // 12)}-{m % 12 + 1:02d}" for m in range(24)]
SEASONAL = [(category, month, (i * 5 + n * 3) % 40)
            for i, category in enumerate(("logistics", "education", "security",
                                          "employment", "epidemic"))
            for n, month in enumerate(MONTHS)]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def glyph_complaints(draw, caplog):
    """What matplotlib says about missing glyphs while `draw` runs (a warning, or a log)."""
    caplog.clear()
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = draw()
    said = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    return data, [text for text in said if "missing from font" in text]


@pytest.mark.parametrize("draw, least, most", [
    (lambda: rates_png(UNITS, title="2026-11 各单位三率"), (600, 400), (1600, 800)),
    (lambda: received_per_day_png(PER_DAY), (800, 400), (1200, 600)),
    (lambda: seasonal_png(SEASONAL, months=MONTHS), (900, 300), (2000, 900)),
], ids=["rates", "received-per-day", "seasonal"])
def test_charts_render_chinese_without_missing_glyphs(draw, least, most, caplog):
    data, complaints = glyph_complaints(draw, caplog)
    assert complaints == []
    width, height = png_size(data)
    assert least[0] <= width <= most[0] and least[1] <= height <= most[1], (width, height)
    assert 10_000 < len(data) < WECOM_IMAGE_LIMIT


def test_the_glyph_check_would_catch_a_font_without_chinese(caplog):
    """The control: the same capture does see matplotlib's complaint with DejaVu alone."""
    def draw():
        from matplotlib import rc_context
        with rc_context({"font.family": "DejaVu Sans"}):
            figure = Figure(figsize=(2, 1))
            figure.text(0.1, 0.5, "满意率")
            out = io.BytesIO()
            FigureCanvasAgg(figure).print_png(out)
            return out.getvalue()

    _, complaints = glyph_complaints(draw, caplog)
    assert complaints


def test_a_cjk_font_is_installed():
    assert cjk_font() in charts.CJK_FAMILIES


def test_empty_input_still_draws():
    for data in (rates_png([]), received_per_day_png([]), seasonal_png([])):
        png_size(data)


def test_no_cjk_font_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(charts.font_manager.fontManager, "ttflist", [])
    monkeypatch.setattr(charts.font_manager, "findSystemFonts", lambda: [])
    cjk_font.cache_clear()
    try:
        with pytest.raises(CjkFontMissing, match="fonts-wqy-microhei"):
            rates_png(UNITS)
    finally:
        cjk_font.cache_clear()
