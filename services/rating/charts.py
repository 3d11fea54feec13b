"""The office's charts as PNG (issue 12 §4): 三率 by unit, received per day by category and the
seasonal heat map (categories × months), for the summaries posted to the work group (a WeCom
image message takes ≤ 2 MB) and the summary page.

Charts are drawn on a bare `Figure` with the Agg canvas, never through pyplot: no global
figure registry, no GUI backend, nothing shared between two charts drawn at once.

Chinese labels need a CJK font from the system (Debian: fonts-wqy-microhei or fonts-noto-cjk,
installed by `make fonts`). Without one matplotlib would draw empty boxes and only warn, so
`cjk_font` refuses instead, naming the package to install.
"""
from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager, rc_context  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from services.common.contracts import CATEGORIES  # noqa: E402

# In order of preference; the Noto collection's first face is the Japanese one, whose Han
# glyphs serve Chinese too.
CJK_FAMILIES = ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "Noto Sans CJK JP",
                "Source Han Sans SC", "Noto Sans SC")
# Files of those families (to find a font installed after matplotlib cached its font list)
_CJK_FILES = ("notosanscjk", "wqy-microhei", "sourcehansans", "notosanssc")
FONT_PACKAGE = "fonts-wqy-microhei"
RATE_KEYS = {"response_rate": "响应率", "resolution_rate": "解决率",
             "satisfaction_rate": "满意率"}
RATE_COLOURS = ("#4472C4", "#ED7D31", "#70AD47")
DPI = 100


class CjkFontMissing(RuntimeError):
    """No font that can draw Chinese is installed."""


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """The family name of an installed CJK font, or CjkFontMissing naming the package."""
    family = _known_family()
    if family is None:
        # A font installed after matplotlib built its cached list is not in it yet.
        for path in font_manager.findSystemFonts():
            if any(part in path.lower().replace("_", "") for part in _CJK_FILES):
                font_manager.fontManager.addfont(path)
        family = _known_family()
    if family is None:
        raise CjkFontMissing(
            f"图表需要中文字体:没有找到 {' / '.join(CJK_FAMILIES[:2])}。"
            f"Install the Debian package {FONT_PACKAGE} (or fonts-noto-cjk): "
            f"`apt-get install -y {FONT_PACKAGE}`, or run `make fonts` as root.")
    return family


def _known_family() -> str | None:
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in installed), None)


def _style():
    return rc_context({"font.family": "sans-serif",
                       "font.sans-serif": [cjk_font(), "DejaVu Sans"],
                       "axes.unicode_minus": False,
                       "axes.spines.top": False, "axes.spines.right": False})


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    FigureCanvasAgg(figure).print_png(out)
    return out.getvalue()


def rates_png(rows: Iterable[Mapping], *, title: str = "各单位三率") -> bytes:
    """Grouped bars of 响应率, 解决率 and 满意率 (fractions 0–1) per unit, from assessment rows
    (`unit_name`, or `category` for the by-category rows, and the three rates)."""
    rows = list(rows)
    names = [row.get("unit_name") or CATEGORIES.get(row.get("category"), row.get("category"))
             or row.get("unit_id") or "" for row in rows]
    with _style():
        figure = Figure(figsize=(max(6.0, 0.9 * len(rows) + 2), 4.2), dpi=DPI,
                        layout="constrained")
        axes = figure.add_subplot()
        width = 0.8 / len(RATE_KEYS)
        for index, ((key, label), colour) in enumerate(zip(RATE_KEYS.items(), RATE_COLOURS)):
            positions = [n + (index - 1) * width for n in range(len(rows))]
            axes.bar(positions, [row.get(key) or 0 for row in rows], width, label=label,
                     color=colour)
        axes.set_xticks(range(len(rows)), names, rotation=30 if len(rows) > 6 else 0,
                        ha="right" if len(rows) > 6 else "center")
        # Head room above 100 % for the legend, so it hides no bar.
        axes.set_ylim(0, 1.15)
        axes.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_title(title)
        axes.legend(loc="upper center", ncols=3, frameon=False)
        axes.grid(axis="y", alpha=0.3)
        return _png(figure)


def received_per_day_png(counts: Iterable[tuple[date, str, int]], *,
                         title: str = "每日受理量(按类别)") -> bytes:
    """Stacked areas of the cases received per day, one band per category, from (day,
    category, count) roll-ups; a day a category has no row counts as zero."""
    by_category: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    days = set()
    for day, category, count in counts:
        by_category[category][day] += count
        days.add(day)
    days = sorted(days)
    # The largest categories at the bottom, where the bands are easiest to read.
    order = sorted(by_category, key=lambda c: -sum(by_category[c].values()))
    with _style():
        figure = Figure(figsize=(9, 4.5), dpi=DPI, layout="constrained")
        axes = figure.add_subplot()
        if days:
            axes.stackplot(days, [[by_category[c].get(day, 0) for day in days] for c in order],
                           labels=[CATEGORIES.get(c, c) for c in order], alpha=0.85)
            axes.legend(loc="upper left", fontsize="small", ncols=min(5, len(order)))
        axes.set_ylabel("件")
        axes.set_title(title)
        axes.grid(axis="y", alpha=0.3)
        figure.autofmt_xdate()
        return _png(figure)


def seasonal_png(counts: Iterable[tuple[str, str, int]], *,
                 months: Iterable[str] | None = None,
                 title: str = "诉求季节性(类别 × 月)") -> bytes:
    """A heat map of cases per category (rows) and month (columns, "YYYY-MM") from
    (category, month, count) roll-ups; `months` fixes the columns (the last 24 months),
    else they are the months present."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for category, month, count in counts:
        table[category][month] += count
    columns = list(months) if months is not None else sorted({m for r in table.values()
                                                              for m in r})
    categories = [c for c in CATEGORIES if c in table] + sorted(set(table) - set(CATEGORIES))
    grid = [[table[c].get(m, 0) for m in columns] for c in categories]
    peak = max((value for row in grid for value in row), default=0)
    with _style():
        figure = Figure(figsize=(max(6.0, 0.45 * len(columns) + 3), 0.45 * len(categories) + 2),
                        dpi=DPI, layout="constrained")
        axes = figure.add_subplot()
        if grid and columns:
            image = axes.imshow(grid, aspect="auto", cmap="YlOrRd", vmin=0)
            figure.colorbar(image, ax=axes, label="件")
            for y, row in enumerate(grid):
                for x, value in enumerate(row):
                    if value:
                        axes.text(x, y, str(value), ha="center", va="center", fontsize=7,
                                  color="white" if value > peak * 0.6 else "black")
        axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
        axes.set_yticks(range(len(categories)), [CATEGORIES.get(c, c) for c in categories])
        axes.set_title(title)
        return _png(figure)
