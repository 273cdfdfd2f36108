"""The alert and task stages equal the domain and service functions per loan."""

from __future__ import annotations

import functools
import json
import random
from dataclasses import replace
from datetime import date

import pyarrow as pa
import pytest
from batch_portfolios import random_book
from followup_portfolios import partial_payment_book, random_followup
from risk_portfolios import random_risk

from huifang.batch import engine, followup_reference, followup_stage, reference, risk_stage
from huifang.batch.followup_inputs import SCHEMAS, FollowupBook
from huifang.batch.inputs import BookInputs
from huifang.batch.templates import TemplateCache
from huifang.domain.early_warning import EvaluationContext, PartialPaymentsParams
from huifang.policy_files import load_followup_policy
from huifang.risk_rules import load_rule_set, load_tier_settings, load_watchlist
from huifang.valuation_params import load_valuation_params

AS_OF = date(2025, 6, 30)
WINDOW = (2, 120)  # the rule file's partial-payments rule


def _history(
    book: BookInputs, window: tuple[int, int] | None = WINDOW, states: pa.Table | None = None
) -> pa.Table:
    """The compute stage's repayment history (loan_id and HISTORY_SCHEMA's columns)."""
    cache = TemplateCache()
    engine.ensure_templates(book.loans, cache, AS_OF)
    computed = engine.compute_partition(
        book.loans, book.payments, cache.table(), AS_OF, history=True, partial=window
    )
    if states is not None:  # the fold's states are the reference's
        assert computed.select(states.column_names).equals(states)
    return computed.select(["loan_id", *engine.HISTORY_SCHEMA.names])


@functools.cache
def _setup(seed: int, n: int = 500):  # type: ignore[no-untyped-def]
    book = partial_payment_book(random_book(n, seed, AS_OF), seed, AS_OF)
    states = reference.compute(book.loans, book.payments, AS_OF)
    params = load_valuation_params()
    risk = random_risk(book.loans, seed, AS_OF)
    coll = risk_stage.collateral(states, book.loans, risk, AS_OF, params).table
    tiers = load_tier_settings()
    tier_table = risk_stage.tiers(
        states, book.loans, risk, coll, AS_OF, tiers.origination, tiers.risk
    )
    fu = random_followup(book.loans, seed, AS_OF)
    return book, states, coll, tier_table, fu, _history(book, WINDOW, states)


def _rules(window: tuple[int, int] = WINDOW):  # type: ignore[no-untyped-def]
    bands = load_valuation_params().ltv_bands
    rules = load_rule_set(bands=bands)
    assert any(r.params == PartialPaymentsParams(*WINDOW) for r in rules.rules)
    rules = replace(
        rules,
        rules=tuple(
            replace(r, params=PartialPaymentsParams(*window))
            if isinstance(r.params, PartialPaymentsParams)
            else r
            for r in rules.rules
        ),
    )
    return bands, rules, load_watchlist()


def _stored_alerts(hits, rng: random.Random) -> pa.Table:  # type: ignore[no-untyped-def]
    rows = []
    for hit in hits:
        r = rng.random()
        if r < 0.15:  # the same episode stored: resolved (not raised again) or live
            rows.append((hit.key, hit.rule_id, rng.choice(("resolved", "open", "acknowledged"))))
        elif r < 0.25:  # an older episode of the rule: live absorbs, resolved does not
            key = f"{hit.contract_no}|{hit.rule_id}|older"
            rows.append((key, hit.rule_id, rng.choice(("resolved", "open"))))
    return pa.table(
        {
            "loan_id": pa.array([int(k.split("|")[0][1:]) for k, _, _ in rows], pa.int64()),
            "key": [k for k, _, _ in rows],
            "rule_id": [r for _, r, _ in rows],
            "status": [s for _, _, s in rows],
        }
    )


def _alert_rows(table: pa.Table) -> list[tuple[object, ...]]:
    return [
        (r["loan_id"], r["rule_id"], r["episode"], r["key"], r["severity"])
        for r in table.to_pylist()
    ]


@pytest.mark.parametrize("seed", [11, 12])
def test_new_alerts_equal_evaluate_and_plan_per_loan(seed: int) -> None:
    book, states, coll, _, fu, history = _setup(seed)
    bands, rules, watchlist = _rules()
    ctx = EvaluationContext(bands, watchlist)
    args = (states, book.loans, book.payments)
    first = followup_reference.new_alerts(*args, fu, AS_OF, rules, ctx, coll)
    assert {h.rule_id for h in first} >= {
        "first-payment-default",
        "partial-payments",
        "any-dpd",
        "dpd-m2",
        "ltv-above-band",
        "income-or-job",
        "vehicle-at-risk",
        "lost-contact",
        "industry-watchlist",
        "health-event",
    }
    fu = replace(fu, stored_alerts=_stored_alerts(first, random.Random(seed)))
    want = followup_reference.new_alerts(*args, fu, AS_OF, rules, ctx, coll)
    got = followup_stage.alerts(
        states, book.loans, fu, AS_OF, rules, watchlist, bands, coll, history, WINDOW
    )
    assert _alert_rows(got.table) == [
        (int(h.contract_no[1:]), h.rule_id, h.episode, h.key, h.severity.value) for h in want
    ]
    assert got.not_evaluated == ()
    assert 0 < got.table.num_rows < len(first)
    assert got.refreshed > 0 and got.already_resolved > 0
    # the titles the domain words the same way
    by_key = {h.key: h for h in want}
    exact = {"any-dpd", "dpd-m2", "lost-contact", "industry-watchlist", "ltv-above-band"}
    for row in got.table.to_pylist():
        hit = by_key[row["key"]]
        if row["rule_id"] in exact:
            assert (row["title_zh"], row["title_en"]) == (hit.zh, hit.en)
            assert json.loads(row["facts"]) == dict(hit.facts)
        elif row["rule_id"] == "partial-payments":  # the domain's words less the amounts
            assert hit.zh.startswith(row["title_zh"] + " (已还/应还: ")
            assert hit.en.startswith(row["title_en"] + " (paid/due: ")
            assert json.loads(row["facts"]) == {"periods": hit.facts["periods"]}
        else:
            assert row["title_zh"].startswith(hit.zh.split(":")[0])


@pytest.mark.parametrize("numpy_fold", [False, True])
@pytest.mark.parametrize("window", [(1, 31), (2, 120), (3, 400), (2, 30)])
def test_partial_payments_equal_the_domain_per_loan(
    window: tuple[int, int], numpy_fold: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # compiled fold, and the NumPy fold's loans, whose figure comes from the domain position
    if numpy_fold:
        monkeypatch.setenv("HUIFANG_BATCH_FOLD", "numpy")
    book, states, _, _, _, _ = _setup(13)
    bands, rules, watchlist = _rules(window)
    rules = replace(
        rules, rules=tuple(r for r in rules.rules if isinstance(r.params, PartialPaymentsParams))
    )
    empty = FollowupBook.of()
    ctx = EvaluationContext(bands, watchlist)
    want = followup_reference.new_alerts(
        states, book.loans, book.payments, empty, AS_OF, rules, ctx
    )
    history = _history(book, window)
    got = followup_stage.alerts(
        states, book.loans, empty, AS_OF, rules, watchlist, bands, None, history, window
    )
    assert _alert_rows(got.table) == [
        (int(h.contract_no[1:]), h.rule_id, h.episode, h.key, h.severity.value) for h in want
    ]
    assert len(want) > 10
    # another window than the fold's is not evaluated, and says so
    other = followup_stage.alerts(
        states, book.loans, empty, AS_OF, rules, watchlist, bands, None, history, (9, 9)
    )
    assert other.table.num_rows == 0 and other.not_evaluated == ("partial-payments",)


def test_alerts_without_collateral_read_the_stored_ltv_only() -> None:
    book, states, _, _, fu, history = _setup(12)
    bands, rules, watchlist = _rules()
    ctx = EvaluationContext(bands, watchlist)
    want = followup_reference.new_alerts(
        states, book.loans, book.payments, fu, AS_OF, rules, ctx, None
    )
    got = followup_stage.alerts(
        states, book.loans, fu, AS_OF, rules, watchlist, bands, None, history, WINDOW
    )
    assert _alert_rows(got.table) == [
        (int(h.contract_no[1:]), h.rule_id, h.episode, h.key, h.severity.value) for h in want
    ]


def _stored_tasks(rows: list[dict[str, object]], rng: random.Random) -> pa.Table:
    out = []
    for r in rows:
        x = rng.random()
        if x < 0.15:  # open: not created again (whatever the due date)
            out.append((r["loan_id"], r["purpose"], rng.choice((r["due_on"], AS_OF)), True))
        elif x < 0.3:  # closed for this occasion: not created again
            out.append((r["loan_id"], r["purpose"], r["due_on"], False))
        elif x < 0.4:  # closed for another occasion: no obstacle
            out.append((r["loan_id"], r["purpose"], date(2020, 1, 1), False))
    return pa.table(
        {
            name: [t[k] for t in out]
            for k, name in enumerate(("loan_id", "purpose", "due_on", "open"))
        }
    ).cast(SCHEMAS["stored_tasks"])


@pytest.mark.parametrize("seed", [11, 12])
def test_due_tasks_equal_generate_tasks_per_loan(seed: int) -> None:
    book, states, _, tier_table, fu, _ = _setup(seed)
    loaded = load_followup_policy()
    args = (states, book.loans, book.payments)
    first = followup_reference.due_tasks(*args, fu, AS_OF, loaded, tier_table)
    assert {r["purpose"] for r in first} >= {
        "first-visit",
        "routine",
        "missed-payment",
        "bucket-change",
        "flagged-industry",
        "risk-finding",
        "ltv-breach",
    }
    fu = replace(fu, stored_tasks=_stored_tasks(first, random.Random(seed)))
    want = followup_reference.due_tasks(*args, fu, AS_OF, loaded, tier_table)
    got = followup_stage.due_tasks(states, book.loans, fu, AS_OF, loaded, tier_table)
    assert got.table.to_pylist() == want
    assert got.already_open > 0 and 0 < len(want) < len(first)
    # without this run's tiers the latest recorded tier counts
    want = followup_reference.due_tasks(*args, fu, AS_OF, loaded, None)
    assert followup_stage.due_tasks(states, book.loans, fu, AS_OF, loaded).table.to_pylist() == want


def test_tier_changes_against_the_recorded_history() -> None:
    _book, _states, _, tier_table, fu, _ = _setup(11)
    got = followup_stage.tier_changes(tier_table, fu, AS_OF).to_pylist()
    last: dict[tuple[int, str], str] = {}
    for t in sorted(fu.tier_history.to_pylist(), key=lambda t: (t["as_of"], t["change_id"])):
        if t["as_of"] <= AS_OF:
            last[(t["loan_id"], t["kind"])] = t["tier"]
    want = []
    for r in tier_table.to_pylist():
        for kind, tier in (("origination", r["origination_tier"]), ("risk", r["risk_tier"])):
            if last.get((r["loan_id"], kind)) != tier:
                want.append((r["loan_id"], kind, last.get((r["loan_id"], kind)), tier))
    assert [(r["loan_id"], r["kind"], r["previous_tier"], r["tier"]) for r in got] == want
    assert any(r["previous_tier"] is None for r in got)
    assert any(r["previous_tier"] is not None for r in got)


def test_empty_workspace_inputs() -> None:
    book = random_book(50, 41, AS_OF)
    states = reference.compute(book.loans, book.payments, AS_OF)
    bands, rules, watchlist = _rules()
    empty = FollowupBook.of()
    got = followup_stage.alerts(states, book.loans, empty, AS_OF, rules, watchlist, bands)
    assert got.not_evaluated == ("partial-payments",)  # the compute stage kept no history
    assert {r["rule_id"] for r in got.table.to_pylist()} <= {
        "first-payment-default",
        "any-dpd",
        "dpd-m2",
    }
    tasks = followup_stage.due_tasks(states, book.loans, empty, AS_OF, load_followup_policy())
    assert tasks.table.num_rows == 0 and tasks.not_tasked == states.num_rows
