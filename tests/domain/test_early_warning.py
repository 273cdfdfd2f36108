"""Early-warning rules: each rule fires on its fixture and stays quiet on a near miss;
deduplication of hits against stored alerts; the alert lifecycle."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from huifang.domain.collateral import DEFAULT_LTV_BANDS
from huifang.domain.early_warning import (
    Action,
    AlertState,
    AlertStatus,
    AlertTransitionError,
    DaysPastDueParams,
    EvaluationContext,
    EventKind,
    FindingParams,
    IndustryWatchlist,
    InstallmentRecord,
    LoanSnapshot,
    LtvAboveBandParams,
    RiskEvent,
    Rule,
    RuleKind,
    RuleSet,
    Severity,
    StoredAlert,
    WatchedIndustry,
    acknowledge,
    alert_key,
    evaluate,
    plan_alerts,
    resolve,
)
from huifang.risk_rules import load_rule_set, load_watchlist
from huifang.valuation_params import load_valuation_params

D = Decimal
RULES = load_rule_set(bands=load_valuation_params().ltv_bands)
WATCH = IndustryWatchlist(
    "w1", (WatchedIndustry("餐饮", "现金流波动", date(2025, 3, 1), ("catering",)),)
)
CTX = EvaluationContext(DEFAULT_LTV_BANDS, WATCH)
AS_OF = date(2025, 6, 20)


def inst(
    period: int, due: date, paid: str = "3000", settled: date | None = None
) -> InstallmentRecord:
    amount = D("3000")
    paid_d = D(paid)  # received in the installment's own period
    if settled is None and paid_d >= amount:
        settled = due
    return InstallmentRecord(period, due, amount, paid_d, settled)


def clean(**changes: object) -> LoanSnapshot:
    """A healthy loan: six installments paid on time, LTV 70 %, reachable, safe industry."""
    base = LoanSnapshot(
        contract_no="HF-1",
        as_of=AS_OF,
        installments=tuple(inst(p, date(2025, p, 15)) for p in range(1, 7)),
        ltv_history=((date(2025, 1, 1), D("0.7000")), (date(2025, 6, 1), D("0.7000"))),
        industry="制造业",
        events=(RiskEvent(EventKind.CONTACT_SUCCEEDED, date(2025, 6, 1)),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def fired(snapshot: LoanSnapshot) -> set[str]:
    return {h.rule_id for h in evaluate(RULES, snapshot, CTX)}


def test_the_clean_loan_fires_nothing() -> None:
    assert fired(clean()) == set()


def test_every_packaged_rule_has_a_fixture_here() -> None:
    assert {r.id for r in RULES.rules} == set(FIRING) == set(QUIET)


# Each rule: a snapshot that fires it, and a near miss that does not.
FIRING: dict[str, LoanSnapshot] = {
    "first-payment-default": clean(
        installments=(inst(1, date(2025, 6, 15), "0"),),
        dpd=5,
        oldest_overdue_due_date=date(2025, 6, 15),
    ),
    "any-dpd": clean(dpd=1, oldest_overdue_due_date=date(2025, 6, 19)),
    "dpd-m2": clean(dpd=31, oldest_overdue_due_date=date(2025, 5, 20)),
    "partial-payments": clean(
        installments=(
            inst(1, date(2025, 3, 15)),
            inst(2, date(2025, 4, 15), "1000", date(2025, 4, 20)),
            inst(3, date(2025, 5, 15), "2999.99", date(2025, 5, 16)),
            inst(4, date(2025, 6, 15)),
        )
    ),
    "ltv-above-band": clean(
        ltv_history=(
            (date(2025, 1, 1), D("0.9500")),
            (date(2025, 3, 1), D("1.0200")),
            (date(2025, 6, 1), D("1.0800")),
        )
    ),
    "income-or-job": clean(
        events=(RiskEvent(EventKind.JOB_LOSS, date(2025, 6, 10), "visit-7", "公司倒闭"),)
    ),
    "vehicle-at-risk": clean(events=(RiskEvent(EventKind.VEHICLE_TRANSFERRED, date(2025, 5, 1)),)),
    "lost-contact": clean(
        events=(
            RiskEvent(EventKind.CONTACT_SUCCEEDED, date(2025, 5, 1)),
            *(RiskEvent(EventKind.CONTACT_FAILED, date(2025, 6, d)) for d in range(1, 7)),
        )
    ),
    "industry-watchlist": clean(industry="餐饮服务业"),
    "health-event": clean(events=(RiskEvent(EventKind.HEALTH_EVENT, date(2025, 6, 19)),)),
}

QUIET: dict[str, LoanSnapshot] = {
    # paid in full one day late, before as-of: cured, not in default now
    "first-payment-default": clean(
        installments=(inst(1, date(2025, 6, 15), "3000", date(2025, 6, 16)),)
    ),
    # due today is not overdue
    "any-dpd": clean(),
    "dpd-m2": clean(dpd=30, oldest_overdue_due_date=date(2025, 5, 21)),
    # two partial payments, but not in a row
    "partial-payments": clean(
        installments=(
            inst(1, date(2025, 3, 15), "1000", date(2025, 3, 20)),
            inst(2, date(2025, 4, 15)),
            inst(3, date(2025, 5, 15), "1000", date(2025, 5, 20)),
            inst(4, date(2025, 6, 15), "0"),
        )
    ),
    # was above, latest valuation back at the band's top (100.00 % is still 'watch')
    "ltv-above-band": clean(
        ltv_history=((date(2025, 3, 1), D("1.0800")), (date(2025, 6, 1), D("1.0000")))
    ),
    # an income drop older than the 90-day window
    "income-or-job": clean(events=(RiskEvent(EventKind.INCOME_DROP, date(2025, 3, 21)),)),
    # a finding dated after as-of is not seen
    "vehicle-at-risk": clean(events=(RiskEvent(EventKind.VEHICLE_SOLD, date(2025, 6, 21)),)),
    # six failures but a success in between
    "lost-contact": clean(
        events=(
            *(RiskEvent(EventKind.CONTACT_FAILED, date(2025, 5, d)) for d in range(1, 4)),
            RiskEvent(EventKind.CONTACT_SUCCEEDED, date(2025, 5, 10)),
            *(RiskEvent(EventKind.CONTACT_FAILED, date(2025, 6, d)) for d in range(1, 6)),
        )
    ),
    # an industry not on the list
    "industry-watchlist": clean(industry="小商品零售"),
    "health-event": clean(events=(RiskEvent(EventKind.INCOME_DROP, date(2025, 6, 19)),)),
}


@pytest.mark.parametrize("rule_id", sorted(FIRING))
def test_rule_fires_on_its_fixture(rule_id: str) -> None:
    hits = {h.rule_id: h for h in evaluate(RULES, FIRING[rule_id], CTX)}
    assert rule_id in hits
    hit = hits[rule_id]
    rule = next(r for r in RULES.rules if r.id == rule_id)
    assert hit.severity is rule.severity and hit.actions == rule.actions
    assert hit.rule_version == RULES.version and hit.key.startswith(f"HF-1|{rule_id}|")
    assert hit.zh.startswith(rule.zh) and hit.en.startswith(rule.en)


@pytest.mark.parametrize("rule_id", sorted(QUIET))
def test_rule_stays_quiet_on_its_near_miss(rule_id: str) -> None:
    assert rule_id not in fired(QUIET[rule_id])


def test_first_payment_default_episode_and_threshold() -> None:
    snap = FIRING["first-payment-default"]
    hit = next(h for h in evaluate(RULES, snap, CTX) if h.rule_id == "first-payment-default")
    assert hit.episode == "first-due-2025-06-15" and hit.facts["days_past_due"] == "5"
    on_due_date = replace(snap, as_of=date(2025, 6, 15), dpd=0, oldest_overdue_due_date=None)
    assert "first-payment-default" not in fired(on_due_date)
    # a first installment of nothing (a 0 % interest-first loan) is never unpaid
    nothing = replace(snap.installments[0], amount_due=Decimal(0), received=Decimal(0))
    assert "first-payment-default" not in fired(replace(snap, installments=(nothing,)))


def test_dpd_episode_is_the_oldest_overdue_due_date() -> None:
    hits = {h.rule_id: h for h in evaluate(RULES, FIRING["dpd-m2"], CTX)}
    assert hits["dpd-m2"].episode == "overdue-since-2025-05-20"
    assert hits["any-dpd"].episode == hits["dpd-m2"].episode  # both fire, each its own rule
    assert hits["dpd-m2"].severity is Severity.HIGH


def test_partial_payments_episode_is_the_later_period_and_lookback_applies() -> None:
    hit = next(
        h
        for h in evaluate(RULES, FIRING["partial-payments"], CTX)
        if h.rule_id == "partial-payments"
    )
    assert hit.episode == "period-3" and hit.facts["periods"] == "2,3"
    much_later = replace(FIRING["partial-payments"], as_of=date(2025, 9, 13))  # 121 days
    assert "partial-payments" not in fired(much_later)


def test_ltv_episode_starts_at_the_first_valuation_of_the_run() -> None:
    hit = next(
        h for h in evaluate(RULES, FIRING["ltv-above-band"], CTX) if h.rule_id == "ltv-above-band"
    )
    assert hit.episode == "above-watch-since-2025-03-01"
    assert hit.facts["band"] == "high" and hit.facts["ltv"] == "1.0800"


def test_lost_contact_counts_failures_since_the_last_success() -> None:
    hit = next(
        h for h in evaluate(RULES, FIRING["lost-contact"], CTX) if h.rule_id == "lost-contact"
    )
    assert hit.facts["failed_attempts"] == "6" and hit.episode == "unreachable-since-2025-06-01"


def test_watchlist_matching() -> None:
    entry = WATCH.entries[0]
    assert (
        entry.matches("餐饮") and entry.matches("ＣＡＴＥＲＩＮＧ") and entry.matches("餐饮服务业")
    )
    assert not entry.matches("cateringx") and not entry.matches("")
    assert WATCH.match("餐饮", date(2025, 2, 28)) is None  # before it was listed
    assert WATCH.match(None, AS_OF) is None
    packaged = load_watchlist()
    assert packaged.match("房地产开发经营", AS_OF) is not None


def test_finding_takes_the_latest_matching_event_as_episode() -> None:
    snap = clean(
        events=(
            RiskEvent(EventKind.INCOME_DROP, date(2025, 5, 1), "v1"),
            RiskEvent(EventKind.JOB_LOSS, date(2025, 6, 1), "v2", "工厂停工"),
        )
    )
    hit = next(h for h in evaluate(RULES, snap, CTX) if h.rule_id == "income-or-job")
    assert hit.episode == "job-loss-2025-06-01"
    assert hit.facts["refs"] == "v1,v2" and "工厂停工" in hit.zh


# --- rule validation -------------------------------------------------------------------------


def test_rules_are_validated() -> None:
    dpd = DaysPastDueParams(1)
    ok = Rule("r", RuleKind.DAYS_PAST_DUE, "逾期", "DPD", Severity.LOW, (Action.CONTACT_NOW,), dpd)
    with pytest.raises(ValueError, match="参数与类型"):
        replace(ok, kind=RuleKind.LOST_CONTACT)
    with pytest.raises(ValueError, match="建议措施"):
        replace(ok, actions=())
    with pytest.raises(ValueError, match="重复"):
        RuleSet("v", (ok, ok))
    with pytest.raises(ValueError, match="正整数"):
        DaysPastDueParams(0)
    with pytest.raises(ValueError, match="联系结果"):
        FindingParams(frozenset({EventKind.CONTACT_FAILED}))
    ltv = replace(ok, id="l", kind=RuleKind.LTV_ABOVE_BAND, params=LtvAboveBandParams("nope"))
    with pytest.raises(ValueError, match="不存在"):
        RuleSet("v", (ltv,)).check_bands(DEFAULT_LTV_BANDS)
    top = replace(ltv, params=LtvAboveBandParams("critical"))
    with pytest.raises(ValueError, match="最高档"):
        RuleSet("v", (top,)).check_bands(DEFAULT_LTV_BANDS)


def test_snapshot_is_validated() -> None:
    with pytest.raises(ValueError, match="最早逾期应还日"):
        clean(dpd=3)
    with pytest.raises(ValueError, match="期次"):
        clean(installments=(inst(2, date(2025, 1, 1)), inst(1, date(2025, 2, 1))))


# --- deduplication -------------------------------------------------------------------------


def _hits(snapshot: LoanSnapshot) -> tuple:  # type: ignore[type-arg]
    return evaluate(RULES, snapshot, CTX)


def test_same_state_twice_yields_the_same_keys() -> None:
    snap = FIRING["dpd-m2"]
    first = [h.key for h in _hits(snap)]
    second = [h.key for h in _hits(replace(snap, as_of=AS_OF + timedelta(days=1), dpd=32))]
    assert first == second


def test_plan_creates_then_refreshes_then_skips_resolved() -> None:
    hits = _hits(FIRING["dpd-m2"])
    plan = plan_alerts(hits, [])
    assert {h.rule_id for h in plan.new} == {"any-dpd", "dpd-m2"} and not plan.refresh
    stored = [StoredAlert(h.key, h.contract_no, h.rule_id, AlertStatus.OPEN) for h in plan.new]
    again = plan_alerts(hits, stored)
    assert not again.new and {k for k, _ in again.refresh} == {s.key for s in stored}
    resolved = [replace(s, status=AlertStatus.RESOLVED) for s in stored]
    after = plan_alerts(hits, resolved)
    assert not after.new and not after.refresh and len(after.already_resolved) == 2


def test_a_live_alert_absorbs_a_new_episode_of_the_same_rule() -> None:
    old = StoredAlert(alert_key("HF-1", "dpd-m2", "overdue-since-2025-01-01"), "HF-1", "dpd-m2",
                      AlertStatus.ACKNOWLEDGED)  # fmt: skip
    plan = plan_alerts(_hits(FIRING["dpd-m2"]), [old])
    assert [k for k, h in plan.refresh if h.rule_id == "dpd-m2"] == [old.key]
    assert [h.rule_id for h in plan.new] == ["any-dpd"]


def test_a_resolved_episode_does_not_block_a_new_one() -> None:
    old = StoredAlert(alert_key("HF-1", "dpd-m2", "overdue-since-2025-01-01"), "HF-1", "dpd-m2",
                      AlertStatus.RESOLVED)  # fmt: skip
    plan = plan_alerts(_hits(FIRING["dpd-m2"]), [old])
    assert "dpd-m2" in {h.rule_id for h in plan.new}


def test_duplicate_hits_in_one_batch_count_once() -> None:
    hits = _hits(FIRING["any-dpd"])
    plan = plan_alerts([*hits, *hits], [])
    assert len(plan.new) == len(hits) == 1


def test_other_loans_do_not_interfere() -> None:
    other = StoredAlert("HF-2|any-dpd|x", "HF-2", "any-dpd", AlertStatus.OPEN)
    assert len(plan_alerts(_hits(FIRING["any-dpd"]), [other]).new) == 1


# --- lifecycle -----------------------------------------------------------------------------

NOW = datetime(2025, 6, 20, 9, 30, tzinfo=UTC)


def test_open_acknowledged_resolved() -> None:
    state = acknowledge(AlertState(), "李风控", NOW)
    assert state.status is AlertStatus.ACKNOWLEDGED and state.acknowledged_by == "李风控"
    done = resolve(state, "李风控", NOW + timedelta(hours=2), "  已上门核实, 车辆在借款人处 ")
    assert (
        done.status is AlertStatus.RESOLVED and done.resolution_note == "已上门核实, 车辆在借款人处"
    )
    assert done.acknowledged_at == NOW


def test_open_can_be_resolved_directly() -> None:
    assert resolve(AlertState(), "王", NOW, "误报").status is AlertStatus.RESOLVED


@pytest.mark.parametrize(
    "step",
    [
        lambda s: acknowledge(acknowledge(s, "a", NOW), "b", NOW),  # twice
        lambda s: acknowledge(resolve(s, "a", NOW, "done"), "b", NOW),  # after resolve
        lambda s: resolve(resolve(s, "a", NOW, "done"), "b", NOW, "again"),
        lambda s: resolve(s, "a", NOW, "   "),  # no note
        lambda s: acknowledge(s, " ", NOW),  # no actor
        lambda s: acknowledge(s, "a", datetime(2025, 6, 20, 9, 30)),  # naive time
    ],
)
def test_illegal_transitions_are_refused(step) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AlertTransitionError):
        step(AlertState())
