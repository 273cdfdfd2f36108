"""Quality assurance of follow-up contacts (回访质检): criteria, scores, samples, summaries.

Pure: an auditor scores a sampled contact on fixed criteria, each from 0 to its maximum;
the sample is drawn reproducibly (the same candidates and seed give the same sample, so a
second auditor or a regulator can redraw it), and the summary averages the scores per
agent and criterion.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Criterion:
    """One thing a reviewer scores, from 0 to `max_score`."""

    code: str
    zh: str
    en: str
    max_score: int
    hint_zh: str
    hint_en: str


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "identity_verified",
        "身份核实",
        "Identity verified",
        2,
        "核实本人身份后才谈及贷款信息",
        "identity checked before any loan detail was said",
    ),
    Criterion(
        "disclosure_read",
        "告知录音",
        "Disclosure read",
        2,
        "完整告知录音及来电目的",
        "recording notice and purpose of the call delivered",
    ),
    Criterion(
        "accurate_info",
        "信息准确",
        "Accurate information",
        3,
        "金额、日期等信息准确, 答案如实记录",
        "amounts and dates correct, answers recorded faithfully",
    ),
    Criterion(
        "politeness",
        "礼貌用语",
        "Politeness",
        3,
        "语气礼貌, 耐心倾听",
        "polite tone, patient listening",
    ),
    Criterion(
        "compliance",
        "合规",
        "Compliance",
        3,
        "无威胁、羞辱, 不向第三方透露债务, 客户要求时转人工",
        "no threats or shaming, no disclosure to third parties, a person on request",
    ),
)
CRITERIA_BY_CODE = {c.code: c for c in CRITERIA}
MAX_TOTAL = sum(c.max_score for c in CRITERIA)
MAX_SAMPLE = 200
MAX_COMMENT = 2000


class QaError(ValueError):
    """A review or sample request that cannot be accepted; Chinese / English message."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


def validate_scores(scores: Mapping[str, object]) -> dict[str, int]:
    """Every criterion scored with a whole number in its range, nothing else; raises QaError."""
    unknown = sorted(set(scores) - set(CRITERIA_BY_CODE))
    if unknown:
        raise QaError(f"未知的质检项: {', '.join(unknown)}", f"unknown criteria: {unknown}")
    out: dict[str, int] = {}
    for c in CRITERIA:
        if c.code not in scores:
            raise QaError(f"缺少评分: {c.zh}", f"missing score: {c.en}")
        raw = scores[c.code]
        value: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and raw.strip().isdigit():
            value = int(raw.strip())
        if value is None or not 0 <= value <= c.max_score:
            raise QaError(
                f"{c.zh} 的评分应为 0–{c.max_score} 的整数 (实为 {raw!r})",
                f"{c.en} must be a whole number 0–{c.max_score} (got {raw!r})",
            )
        out[c.code] = value
    return out


def validate_comment(comment: str) -> str:
    text = comment.strip()
    if len(text) > MAX_COMMENT:
        raise QaError(f"说明最多 {MAX_COMMENT} 字", f"the comment is limited to {MAX_COMMENT}")
    return text


def draw_sample(candidates: Iterable[int], size: int, seed: str) -> list[int]:
    """A reproducible random sample of `size` ids (all when fewer), in ascending order.

    The candidates are sorted first, so the order they come from the database in does not
    matter; `seed` is any text (the page uses the filters and a seed number)."""
    if not 1 <= size <= MAX_SAMPLE:
        raise QaError(f"样本量应为 1–{MAX_SAMPLE}", f"the sample size must be 1–{MAX_SAMPLE}")
    pool = sorted(set(candidates))
    if len(pool) <= size:
        return pool
    return sorted(random.Random(seed).sample(pool, size))


@dataclass(frozen=True)
class ScoredReview:
    """A review as the summary reads it."""

    agent: str
    scores: Mapping[str, int]


@dataclass(frozen=True)
class SummaryRow:
    """Average scores of one agent (or of everyone: agent ``全部 / all``)."""

    agent: str
    reviews: int
    averages: Mapping[str, Decimal]  # per criterion, 2 places, half-up
    average_total: Decimal
    percent: Decimal  # average total / maximum total, 0–100, 1 place


def _avg(values: Sequence[int]) -> Decimal:
    return (Decimal(sum(values)) / Decimal(len(values))).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def _row(agent: str, reviews: Sequence[ScoredReview]) -> SummaryRow:
    averages = {c.code: _avg([r.scores.get(c.code, 0) for r in reviews]) for c in CRITERIA}
    total = _avg([sum(r.scores.get(c.code, 0) for c in CRITERIA) for r in reviews])
    percent = (total * 100 / MAX_TOTAL).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return SummaryRow(agent, len(reviews), averages, total, percent)


ALL_AGENTS = "全部 / all"


def summarize(reviews: Iterable[ScoredReview]) -> tuple[SummaryRow, ...]:
    """One row per agent (by name) and a last row for all agents; empty when no reviews."""
    by_agent: dict[str, list[ScoredReview]] = {}
    every: list[ScoredReview] = []
    for r in reviews:
        by_agent.setdefault(r.agent, []).append(r)
        every.append(r)
    if not every:
        return ()
    rows = [_row(agent, rs) for agent, rs in sorted(by_agent.items())]
    return (*rows, _row(ALL_AGENTS, every))
