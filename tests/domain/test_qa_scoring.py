"""QA criteria, score validation, the reproducible sample and the summary (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from huifang.domain import qa


def _full(**over: object) -> dict[str, object]:
    scores: dict[str, object] = {c.code: c.max_score for c in qa.CRITERIA}
    scores.update(over)
    return scores


def test_scores_must_cover_every_criterion_within_its_range() -> None:
    assert sum(qa.validate_scores(_full()).values()) == qa.MAX_TOTAL == 13
    assert qa.validate_scores(_full(politeness="2"))["politeness"] == 2
    with pytest.raises(qa.QaError, match="礼貌用语 的评分应为 0–3"):
        qa.validate_scores(_full(politeness=4))
    with pytest.raises(qa.QaError, match="0–2"):
        qa.validate_scores(_full(identity_verified=-1))
    with pytest.raises(qa.QaError):
        qa.validate_scores(_full(compliance=True))
    with pytest.raises(qa.QaError):
        qa.validate_scores(_full(compliance="2.5"))
    missing = _full()
    del missing["disclosure_read"]
    with pytest.raises(qa.QaError, match="缺少评分: 告知录音"):
        qa.validate_scores(missing)
    with pytest.raises(qa.QaError, match="unknown criteria"):
        qa.validate_scores(_full(speed=1))
    with pytest.raises(qa.QaError):
        qa.validate_comment("长" * (qa.MAX_COMMENT + 1))
    assert qa.validate_comment("  好  ") == "好"


def test_the_sample_is_reproducible_and_independent_of_order() -> None:
    pool = list(range(1, 501))
    first = qa.draw_sample(pool, 20, "2026-11-01|2026-11-30|SZ01||1")
    assert len(first) == 20 and first == sorted(first) and set(first) <= set(pool)
    assert qa.draw_sample(reversed(pool), 20, "2026-11-01|2026-11-30|SZ01||1") == first
    assert qa.draw_sample(pool, 20, "2026-11-01|2026-11-30|SZ01||2") != first
    assert qa.draw_sample([5, 3, 3], 20, "x") == [3, 5]
    with pytest.raises(qa.QaError):
        qa.draw_sample(pool, 0, "x")
    with pytest.raises(qa.QaError):
        qa.draw_sample(pool, qa.MAX_SAMPLE + 1, "x")


def test_summary_averages_per_agent_and_criterion() -> None:
    full = {c.code: c.max_score for c in qa.CRITERIA}
    zero = {c.code: 0 for c in qa.CRITERIA}
    rows = qa.summarize(
        [
            qa.ScoredReview("li", full),
            qa.ScoredReview("li", zero),
            qa.ScoredReview("wang", {**zero, "politeness": 1}),
        ]
    )
    assert [r.agent for r in rows] == ["li", "wang", qa.ALL_AGENTS]
    li, wang, every = rows
    assert li.reviews == 2 and li.averages["accurate_info"] == Decimal("1.50")
    assert li.average_total == Decimal("6.50") and li.percent == Decimal("50.0")
    assert wang.averages["politeness"] == Decimal("1.00")
    assert every.reviews == 3 and every.averages["politeness"] == Decimal("1.33")
    assert every.average_total == Decimal("4.67")  # (13 + 0 + 1) / 3, half-up
    assert qa.summarize([]) == ()
