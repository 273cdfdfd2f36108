"""The manager's monthly report (月度回访报告) as a PDF: the month's dashboard figures —
coverage, connection rate, right-party rate, on-time rate, overdue tasks, open tasks by tier,
alerts, branch and agent comparison — with charts, in Simplified Chinese (English second).

The figures are exactly the manager dashboard's (`workspace.dashboard` over the calendar
month and the caller's branches); this module only lays them out. Rates are printed as
percentages with two decimals, which is the precision the metrics carry (0.01 %), so the
report shows the dashboard's numbers unrounded. Charts are drawn as PDF vector graphics
(bars and lines), their labels as text.

Chinese text needs a CJK font: `HUIFANG_CJK_FONT` (a .ttf/.otf/.ttc path), else Noto Sans
CJK (Debian `fonts-noto-cjk`) or another installed CJK font; without one the report
refuses with a message saying what to install (`ReportError`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from huifang.domain.followup_metrics import Metrics
from huifang.services import workspace
from huifang.services.workspace import Dashboard

FONT_ENV = "HUIFANG_CJK_FONT"
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ReportError(ValueError):
    """The report cannot be made as asked (bad month, no branch, no CJK font)."""


class FontMissing(ReportError):
    """No CJK font is installed or configured: Chinese text cannot be rendered."""


def month_period(month: str) -> tuple[date, date]:
    """The first and last day of `month` written YYYY-MM."""
    found = _MONTH.match(month.strip())
    if not found:
        raise ReportError(f"月份格式应为 YYYY-MM: {month!r} / month must be YYYY-MM")
    year, mon = int(found.group(1)), int(found.group(2))
    if not 1 <= mon <= 12 or not 1900 <= year <= 9998:
        raise ReportError(f"月份无效: {month} / invalid month")
    first = date(year, mon, 1)
    last = date(year + mon // 12, mon % 12 + 1, 1) - timedelta(days=1)
    return first, last


def previous_month(today: date) -> str:
    """The last complete month before `today` (the report's default), as YYYY-MM."""
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def monthly_figures(engine: Engine, month: str, branches: Sequence[str]) -> Dashboard:
    """The manager dashboard's figures for the calendar month over `branches`."""
    first, last = month_period(month)
    if not branches:
        raise ReportError("没有可统计的机构 / no branch in scope")
    return workspace.dashboard(engine, first, last, branches)


def pct(value: Decimal | None) -> str:
    """A rate (0–1, four decimals) as a percentage with two decimals; '-' when undefined."""
    return "-" if value is None else f"{value * 100:.2f}%"


def cell(metrics: Metrics, key: str) -> str:
    """One metrics cell as the report prints it."""
    value = getattr(metrics, key)
    if value is None:
        return "-"
    if key in workspace.RATE_KEYS:
        return pct(value)
    return str(value)


# -- the CJK font -----------------------------------------------------------------------------
@cache
def _simplified_face(path: str) -> int:
    """The index of the Simplified Chinese face in a font collection (0 if none is named)."""
    from fontTools.ttLib import TTCollection

    collection = TTCollection(path, lazy=True)
    names = [str(f["name"].getDebugName(1) or "") for f in collection.fonts]
    for want in (" SC", "GB", "Hei", ""):
        for i, name in enumerate(names):
            if want in name and "Mono" not in name:
                return i
    return 0


def find_cjk_font() -> tuple[Path, int]:
    """The CJK font file and the face index within it (ReportError when none is found)."""
    configured = os.environ.get(FONT_ENV)
    paths = [configured] if configured else list(FONT_CANDIDATES)
    for candidate in paths:
        path = Path(candidate)
        if path.is_file():
            face = _simplified_face(str(path)) if path.suffix.lower() == ".ttc" else 0
            return path, face
    where = f"{FONT_ENV}={configured} 不存在 / does not exist; " if configured else ""
    raise FontMissing(
        f"{where}未找到中文字体, 无法生成 PDF: 请安装 Noto Sans CJK (Debian: apt install "
        f"fonts-noto-cjk) 或设置 {FONT_ENV} 为字体文件路径 / no CJK font found: install "
        f"fonts-noto-cjk or set {FONT_ENV} to a .ttf/.otf/.ttc file"
    )


# -- the PDF ----------------------------------------------------------------------------------
COLORS = ((52, 101, 164), (245, 121, 0), (78, 154, 6), (117, 80, 123), (204, 0, 0))
GREY = (120, 120, 120)
LABELS = {
    "title": ("回访月度报告", "Monthly follow-up report"),
    "period": ("统计期间", "period"),
    "branches": ("机构", "branches"),
    "generated": ("生成时间", "generated"),
    "summary": ("本月概览", "summary"),
    "figure": ("指标", "figure"),
    "value": ("数值", "value"),
    "basis": ("口径", "basis"),
    "coverage": ("覆盖率", "coverage"),
    "connection_rate": ("接通率", "connection rate"),
    "right_party_rate": ("本人接通率", "right-party rate"),
    "on_time_rate": ("按时率", "on-time rate"),
    "due": ("应回访任务", "tasks due"),
    "completed": ("已完成任务", "tasks completed"),
    "attempts": ("联系次数", "attempts"),
    "overdue": ("月末超期未办任务", "overdue open tasks at month end"),
    "new_alerts": ("本月新增预警", "new alerts in the month"),
    "open_alerts": ("未关闭预警", "open alerts"),
    "by_branch_chart": ("机构对比", "branch comparison"),
    "by_agent_chart": (
        "专员对比 (完成任务最多的前 {n} 名)",
        "agent comparison (top {n} by completed)",
    ),
    "tiers_chart": ("待办任务风险等级分布", "open tasks by risk tier"),
    "alerts_chart": ("每日新增预警", "new alerts per day"),
    "by_branch": ("分机构指标", "metrics by branch"),
    "by_agent": ("分专员指标", "metrics by agent"),
    "by_tier": ("分风险等级指标", "metrics by risk tier"),
    "group": ("分组", "group"),
    "total": ("合计", "total"),
    "no_data": ("无数据", "no data"),
    "definitions": (
        "口径: 覆盖率 = 本月应回访任务中按期完成的比例; 接通率 = 有结果的联系中有人接听的比例; "
        "本人接通率 = 其中本人接通的比例; 按时率 = 本月完成任务中在截止日前完成的比例 "
        "(与管理看板一致)。",
        "Definitions as on the manager dashboard: coverage = tasks due in the month completed "
        "by its end; connection rate = answered attempts / attempts with an outcome; "
        "right-party rate = right-party contacts / the same attempts; on-time rate = tasks "
        "completed by their deadline / tasks completed.",
    ),
}


@dataclass(frozen=True)
class _Series:
    name: str
    values: tuple[float | None, ...]
    color: tuple[int, int, int]


def _pdf_class():  # type: ignore[no-untyped-def]
    from fpdf import FPDF

    class ReportPDF(FPDF):  # type: ignore[misc]
        footer_text = ""

        def footer(self) -> None:
            self.set_y(-10)
            self.set_font("cjk", size=7)
            self.set_text_color(*GREY)
            self.cell(0, 5, f"{self.footer_text}  ·  {self.page_no()}", align="C")
            self.set_text_color(0, 0, 0)

    return ReportPDF


def report_pdf(
    board: Dashboard,
    month: str,
    *,
    lang: str = "zh",
    generated_at: datetime | None = None,
    font: tuple[Path, int] | None = None,
) -> bytes:
    """The month's dashboard figures (`monthly_figures`) as a PDF document."""
    font_path, face = font or find_cjk_font()
    en = lang == "en"

    def t(key: str, **kw: object) -> str:
        zh, en_ = LABELS[key]
        return (en_ if en else zh).format(**kw)

    stamp = (generated_at or datetime.now(UTC)).astimezone(ZoneInfo("Asia/Shanghai"))
    pdf = _pdf_class()(orientation="L", unit="mm", format="A4")
    pdf.add_font("cjk", "", str(font_path), collection_font_number=face)
    pdf.set_auto_page_break(True, margin=14)
    pdf.set_margins(12, 12, 12)
    pdf.footer_text = f"Huifang 回访 · {t('title')} {month}"
    pdf.set_title(f"{t('title')} {month}")
    pdf.set_creator("Huifang")
    pdf.add_page()
    width = pdf.epw

    # title and scope
    year, mon = month.split("-")
    pdf.set_font("cjk", size=18)
    heading = f"{t('title')} {month}" if en else f"{t('title')} {year}年{int(mon)}月"
    pdf.cell(width, 10, heading, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.set_text_color(*GREY)
    pdf.cell(
        width,
        5,
        f"{t('period')}: {board.start} – {board.end}    {t('branches')}: "
        f"{', '.join(board.branches)}    {t('generated')}: {stamp:%Y-%m-%d %H:%M}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)

    # summary table (left) and the tier chart (right)
    m = board.total
    new_alerts = sum(n for _d, n in board.alerts_by_day)
    rows = [
        (t("coverage"), pct(m.coverage), f"{m.completed_of_due} / {m.due}"),
        (t("connection_rate"), pct(m.connection_rate), f"{m.connected} / {m.attempts}"),
        (t("right_party_rate"), pct(m.right_party_rate), f"{m.right_party} / {m.attempts}"),
        (t("on_time_rate"), pct(m.on_time_rate), f"{m.on_time} / {m.completed}"),
        (t("due"), str(m.due), ""),
        (t("completed"), str(m.completed), ""),
        (t("attempts"), str(m.attempts), ""),
        (t("overdue"), str(board.overdue_tasks), ""),
        (t("new_alerts"), str(new_alerts), ""),
        (t("open_alerts"), str(board.open_alerts), ""),
    ]
    top = pdf.get_y()
    pdf.set_font("cjk", size=11)
    pdf.cell(120, 7, t("summary"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    with pdf.table(
        width=120,
        col_widths=(55, 30, 35),
        align="LEFT",
        text_align=("LEFT", "RIGHT", "RIGHT"),
        line_height=6,
        first_row_as_headings=True,
        headings_style=_heading_style(),
    ) as table:
        table.row((t("figure"), t("value"), t("basis")))
        for row in rows:
            table.row(row)
    below_summary = pdf.get_y()
    tiers = list(board.open_by_tier.items())
    _bar_chart(
        pdf,
        x=12 + 130,
        y=top,
        w=width - 130,
        h=70,
        title=t("tiers_chart"),
        categories=[k for k, _v in tiers],
        series=[_Series(t("tiers_chart"), tuple(float(v) for _k, v in tiers), COLORS[0])],
        percent=False,
        no_data=t("no_data"),
        value_labels=True,
    )
    pdf.set_y(max(below_summary, top + 76) + 2)
    pdf.set_font("cjk", size=7)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(width, 4, t("definitions"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)

    # charts: branches and alerts per day side by side, the agents below
    pdf.add_page()
    pdf.set_auto_page_break(False)  # charts are placed on the page explicitly
    y0 = pdf.get_y()
    half = (width - 10) / 2
    rate_series = _rate_series(t)
    _bar_chart(
        pdf,
        x=12,
        y=y0,
        w=half,
        h=82,
        title=t("by_branch_chart"),
        categories=[b.group for b in board.by_branch],
        series=[s(board.by_branch) for s in rate_series],
        percent=True,
        no_data=t("no_data"),
    )
    days = list(board.alerts_by_day)
    _bar_chart(
        pdf,
        x=12 + half + 10,
        y=y0,
        w=half,
        h=82,
        title=t("alerts_chart"),
        categories=[f"{d.day}" for d, _n in days],
        series=[_Series(t("alerts_chart"), tuple(float(n) for _d, n in days), COLORS[4])],
        percent=False,
        no_data=t("no_data"),
        label_every=max(1, len(days) // 10),
    )
    agents = sorted(board.by_agent, key=lambda a: (-a.completed, a.group))[:15]
    _bar_chart(
        pdf,
        x=12,
        y=y0 + 92,
        w=width,
        h=82,
        title=t("by_agent_chart", n=len(agents)),
        categories=[a.group for a in agents],
        series=[s(tuple(agents)) for s in rate_series],
        percent=True,
        no_data=t("no_data"),
    )
    pdf.set_auto_page_break(True, margin=14)

    # tables
    pdf.add_page()
    pdf.set_fill_color(255, 255, 255)
    pdf.set_draw_color(0, 0, 0)
    for key, groups in (
        ("by_branch", board.by_branch),
        ("by_agent", board.by_agent),
        ("by_tier", board.by_tier),
    ):
        _metrics_table(pdf, t(key), groups, board.total, t("group"), t("total"), en)
        pdf.ln(5)
    return bytes(pdf.output())


def _heading_style():  # type: ignore[no-untyped-def]
    from fpdf.fonts import FontFace

    return FontFace(emphasis="", fill_color=(228, 234, 244))  # one CJK face: no bold


def _rate_series(t: Callable[..., str]) -> list[Callable[[Sequence[Metrics]], _Series]]:
    def make(key: str, color: tuple[int, int, int]) -> Callable[[Sequence[Metrics]], _Series]:
        def series(rows: Sequence[Metrics]) -> _Series:
            values = tuple(
                None if getattr(r, key) is None else float(getattr(r, key)) * 100 for r in rows
            )
            return _Series(t(key), values, color)

        return series

    return [
        make("coverage", COLORS[0]),
        make("connection_rate", COLORS[1]),
        make("right_party_rate", COLORS[2]),
    ]


def _metrics_table(
    pdf,  # type: ignore[no-untyped-def]
    title: str,
    groups: Sequence[Metrics],
    total: Metrics,
    group_label: str,
    total_label: str,
    en: bool,
) -> None:
    pdf.set_font("cjk", size=11)
    pdf.cell(pdf.epw, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    columns = workspace.METRIC_COLUMNS
    with pdf.table(
        col_widths=(40, *([1.0 * (pdf.epw - 40) / len(columns)] * len(columns))),
        text_align=("LEFT", *(["RIGHT"] * len(columns))),
        line_height=5.5,
        first_row_as_headings=True,
        headings_style=_heading_style(),
        repeat_headings=1,
    ) as table:
        table.row((group_label, *[en_ if en else zh for _k, zh, en_ in columns]))
        for m in (*groups, total):
            label = total_label if m is total else m.group
            table.row((label, *[cell(m, key) for key, _zh, _en in columns]))


def _bar_chart(
    pdf,  # type: ignore[no-untyped-def]
    *,
    x: float,
    y: float,
    w: float,
    h: float,
    title: str,
    categories: Sequence[str],
    series: Sequence[_Series],
    percent: bool,
    no_data: str,
    value_labels: bool = False,
    label_every: int = 1,
) -> None:
    """A grouped bar chart with a title, a y axis (0–100 % for rates), category labels and a
    legend; `None` values are left out (no bar)."""
    pdf.set_xy(x, y)
    pdf.set_font("cjk", size=10)
    pdf.cell(w, 6, title)
    plot_x, plot_y = x + 12, y + 10
    plot_w, plot_h = w - 14, h - 24
    values = [v for s in series for v in s.values if v is not None]
    top = 100.0 if percent else _nice_ceiling(max(values, default=0.0))
    pdf.set_draw_color(210, 210, 210)
    pdf.set_font("cjk", size=6)
    pdf.set_text_color(*GREY)
    for i in range(5):
        level = top * i / 4
        gy = plot_y + plot_h - plot_h * i / 4
        pdf.line(plot_x, gy, plot_x + plot_w, gy)
        pdf.set_xy(x, gy - 2)
        text = f"{level:.0f}%" if percent else f"{level:g}"
        pdf.cell(11, 4, text, align="R")
    pdf.set_text_color(0, 0, 0)
    if not categories or not values:
        pdf.set_xy(plot_x, plot_y + plot_h / 2 - 3)
        pdf.set_font("cjk", size=9)
        pdf.cell(plot_w, 6, no_data, align="C")
        return
    slot = plot_w / len(categories)
    bar = slot * 0.8 / len(series)
    for ci, category in enumerate(categories):
        for si, s in enumerate(series):
            value = s.values[ci]
            if value is None:
                continue
            bh = plot_h * min(value, top) / top if top else 0
            bx = plot_x + ci * slot + slot * 0.1 + si * bar
            pdf.set_fill_color(*s.color)
            pdf.rect(bx, plot_y + plot_h - bh, bar, bh, style="F")
            if value_labels:
                pdf.set_xy(bx, plot_y + plot_h - bh - 4)
                pdf.set_font("cjk", size=6)
                pdf.cell(bar, 4, f"{value:g}", align="C")
        if ci % label_every == 0:
            pdf.set_xy(plot_x + ci * slot, plot_y + plot_h + 1)
            pdf.set_font("cjk", size=6 if len(categories) <= 12 else 5)
            pdf.cell(slot, 4, _fit(pdf, category, slot), align="C")
    pdf.set_draw_color(0, 0, 0)
    pdf.line(plot_x, plot_y + plot_h, plot_x + plot_w, plot_y + plot_h)
    if len(series) > 1:
        lx = plot_x
        ly = plot_y + plot_h + 7
        pdf.set_font("cjk", size=7)
        for s in series:
            pdf.set_fill_color(*s.color)
            pdf.rect(lx, ly + 1, 3, 3, style="F")
            pdf.set_xy(lx + 4, ly)
            label_w = pdf.get_string_width(s.name) + 2
            pdf.cell(label_w, 5, s.name)
            lx += label_w + 8


def _fit(pdf, text: str, width: float) -> str:  # type: ignore[no-untyped-def]
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _nice_ceiling(value: float) -> float:
    """The smallest 1/2/5 × 10^k at or above `value` (at least 4, so quarters are whole)."""
    if value <= 4:
        return 4.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 4, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)
