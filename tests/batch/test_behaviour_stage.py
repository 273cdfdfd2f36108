"""The behaviour-score stage agrees with the per-loan model path, loan by loan: features
(`book_features.features_as_of`), points (`Scorecard.score`), top reasons (`reasons_for`)
and PD (`model.behaviour`); and the tier stage reads the scores as `risk_tier` does."""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_portfolios import random_book
from behaviour_portfolios import random_behaviour, random_card
from risk_portfolios import random_risk
from sqlalchemy import Engine, select

from huifang.batch import behaviour_stage, engine, reference, risk_reference, risk_stage
from huifang.batch import engine as engine_mod
from huifang.batch.behaviour_inputs import BehaviourBook, read_database_behaviour
from huifang.batch.inputs import BookInputs, read_database_inputs
from huifang.batch.output import DatabaseSink, ParquetSink
from huifang.batch.risk_inputs import RiskBook, read_database_risk
from huifang.batch.runner import RunContext, run
from huifang.batch.templates import TemplateCache
from huifang.model import book_features as bf
from huifang.model.artifact import write_artifact
from huifang.model.behaviour import behaviour_score
from huifang.model.reasons import reasons_for
from huifang.model.scorecard import Scorecard
from huifang.risk_rules import load_tier_settings
from huifang.store.batch_score_models import BatchLoanScore
from huifang.valuation_params import load_valuation_params

AS_OF = date(2025, 6, 30)


def _histories(
    book: BookInputs, risk: RiskBook, behaviour: BehaviourBook, ids: list[int]
) -> dict[int, bf.LoanHistory]:
    """Each loan's `LoanHistory` as `book_features.load_histories` builds it, from the same
    rows: the domain's schedule and position (`reference.loan_position`), payments not
    reversed, the borrower, and the follow-up rows dated by as-of."""
    loans = {r["loan_id"]: r for r in book.loans.to_pylist()}
    pays: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in book.payments.to_pylist():
        pays[p["loan_id"]].append(p)
    facts = {r["loan_id"]: r for r in risk.facts.to_pylist()}
    people = {r["loan_id"]: r for r in behaviour.borrowers.to_pylist()}
    attempts: dict[int, list[Any]] = defaultdict(list)
    for a in sorted(behaviour.attempts.to_pylist(), key=lambda a: a["attempted_on"]):
        if a["attempted_on"] <= AS_OF:
            attempts[a["loan_id"]].append((a["attempted_on"], a["conversation"], a["right_party"]))
    visits: dict[int, list[date]] = defaultdict(list)
    for v in behaviour.visits.to_pylist():
        if v["completed_on"] <= AS_OF:
            visits[v["loan_id"]].append(v["completed_on"])
    events: dict[int, list[Any]] = defaultdict(list)
    for e in behaviour.events.to_pylist():
        if e["occurred_on"] <= AS_OF:
            events[e["loan_id"]].append((e["kind"], e["occurred_on"], e["superseded_on"]))
    ranks = {b.code: i for i, b in enumerate(load_valuation_params().ltv_bands.bands)}
    valuations: dict[int, list[Any]] = defaultdict(list)
    rows = sorted(
        behaviour.valuations.to_pylist(), key=lambda v: (v["valued_on"], v["valuation_id"])
    )
    for v in rows:
        if v["valued_on"] <= AS_OF:
            ltv = float(v["ltv"]) if v["ltv"] is not None else None
            valuations[v["loan_id"]].append((v["valued_on"], ltv, ranks.get(v["ltv_band"])))
    out = {}
    for loan_id in ids:
        loan = loans[loan_id]
        position = reference.loan_position(loan, pays[loan_id], AS_OF)
        gone = set(position.reversed_payments)
        schedule = position.schedule
        f = facts.get(loan_id, {})
        who = people.get(loan_id, {})
        out[loan_id] = bf.LoanHistory(
            contract_no=loan["contract_no"],
            disbursement_date=loan["disbursement_date"],
            closed_date=None,
            principal=loan["principal"],
            term_months=loan["term_months"],
            annual_rate=loan["annual_rate"],
            down_payment=f.get("down_payment") or 0,
            vehicle_price=f.get("vehicle_price") or 0,
            regular_payment=schedule.installments[0].payment,
            credit_score=f.get("credit_score"),
            monthly_income=who.get("monthly_income"),
            self_employed=bool(who.get("self_employed")),
            static={
                "industry": who.get("industry"),
                "borrower_kind": who.get("borrower_kind"),
                "repayment_method": loan["repayment_method"],
                "purpose": who.get("purpose"),
                "vehicle_condition": who.get("vehicle_condition"),
                "fuel_type": f.get("fuel_type"),
            },
            dues=tuple(
                bf.Due(i.due_date, i.payment, i.principal, i.balance, bf._settled_on(ip))
                for i, ip in zip(schedule.installments, position.installments, strict=True)
            ),
            payments=tuple(
                (p["paid_on"], p["amount"], p["payment_type"])
                for p in sorted(pays[loan_id], key=lambda p: (p["paid_on"], p["payment_id"]))
                if p["paid_on"] <= AS_OF
                and p["payment_type"] != "reversal"
                and str(p["payment_id"]) not in gone
            ),
            attempts=tuple(attempts[loan_id]),
            visits=tuple(visits[loan_id]),
            events=tuple(events[loan_id]),
            valuations=tuple(valuations[loan_id]),
        )
    return out


def _book(seed: int, n: int) -> tuple[BookInputs, RiskBook, BehaviourBook]:
    book = random_book(n, seed, AS_OF)
    return book, random_risk(book.loans, seed, AS_OF), random_behaviour(book.loans, seed, AS_OF)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


@pytest.mark.parametrize("seed", [11, 12])
def test_scores_equal_the_per_loan_model_path(seed: int) -> None:
    book, risk, behaviour = _book(seed, 500)
    cache = TemplateCache()
    engine.ensure_templates(book.loans, cache, AS_OF)
    states = engine.compute_partition(book.loans, book.payments, cache.table(), AS_OF, history=True)
    states, history = behaviour_stage.split_history(states)
    assert history is not None
    f = behaviour_stage.features(states, history, book.loans, risk, behaviour, AS_OF)
    ids = f.loan_id.tolist()
    d0 = dict(
        zip(
            *(book.loans.column(c).to_pylist() for c in ("loan_id", "disbursement_date")),
            strict=True,
        )
    )
    all_ids = states.column("loan_id").to_pylist()
    assert [i for i in all_ids if d0[i] <= AS_OF] == ids  # later disbursements: no score
    assert len(ids) < len(all_ids)
    histories = _histories(book, risk, behaviour, ids)
    rows = {i: bf.features_as_of(histories[i], AS_OF) for i in ids}
    # the features, every one of them, loan by loan
    for name in bf.FEATURES:
        got = f.numeric[name].tolist() if name in f.numeric else f.categorical[name].to_pylist()
        for k, loan_id in enumerate(ids):
            want = rows[loan_id][name]
            want = float(want) if isinstance(want, int | bool) else want
            assert _same(got[k], want), (name, loan_id, got[k], want)
    # points, PD and reasons with a card over every feature
    frame = pd.DataFrame([rows[i] for i in ids])
    card = random_card(frame, seed)
    table = behaviour_stage.score_table(card, behaviour_stage.score(card, f))
    want_points = card.score(frame)
    got = table.to_pylist()
    reasons_seen = set()
    for k, loan_id in enumerate(ids):
        r = got[k]
        assert r["loan_id"] == loan_id
        one = card.score(pd.DataFrame([rows[loan_id]]))[0]  # the per-loan call
        assert r["points"] == one == want_points[k]
        assert r["pd"] == behaviour_score(card, one, "v").probability
        want_reasons = [x.feature for x in reasons_for(card, rows[loan_id])]
        got_reasons = [r[f"reason_{j}"] for j in range(1, 5)]
        assert got_reasons == want_reasons + [None] * (4 - len(want_reasons)), loan_id
        reasons_seen.update(want_reasons)
    assert len(reasons_seen) >= 6, reasons_seen
    # the edge cases are in the book
    h = histories
    assert any(not h[i].payments for i in ids)  # no payments
    assert any(rows[i]["prepayments"] > 0 for i in ids)  # prepaid
    assert any(all(d.settled_on is None for d in h[i].dues if d.due_date < AS_OF)
               and rows[i]["dpd_now"] > 0 for i in ids)  # fmt: skip
    assert any(not h[i].attempts and not h[i].events and not h[i].valuations for i in ids)
    assert any(math.isnan(rows[i]["monthly_income"]) for i in ids)


def test_tier_uses_the_behaviour_score_like_risk_tier() -> None:
    book, risk, behaviour = _book(21, 600)
    cache = TemplateCache()
    engine.ensure_templates(book.loans, cache, AS_OF)
    states, history = behaviour_stage.split_history(
        engine.compute_partition(book.loans, book.payments, cache.table(), AS_OF, history=True)
    )
    assert history is not None
    f = behaviour_stage.features(states, history, book.loans, risk, behaviour, AS_OF)
    frame = pd.DataFrame({**f.numeric, **{k: v.to_pylist() for k, v in f.categorical.items()}})
    card = random_card(frame, 21)
    scores = behaviour_stage.score_table(card, behaviour_stage.score(card, f))
    settings = load_tier_settings()
    coll = risk_stage.collateral(states, book.loans, risk, AS_OF, load_valuation_params()).table
    got = risk_stage.tiers(
        states, book.loans, risk, coll, AS_OF, settings.origination, settings.risk, scores
    )
    per_loan = {r["loan_id"]: behaviour_score(card, r["points"], "v") for r in scores.to_pylist()}
    ltvs = dict(zip(*(coll.column(c).to_pylist() for c in ("loan_id", "ltv")), strict=True))
    want = risk_reference.tier_rows(
        states, book.loans, risk, ltvs, AS_OF, settings.origination, settings.risk, per_loan
    )
    rows = {r["loan_id"]: r for r in got.to_pylist()}
    assert set(rows) == {k for k, v in want.items() if v is not None}
    codes = set()
    for loan_id, w in want.items():
        if w is not None:
            assert rows[loan_id] == {"loan_id": loan_id, **w}
            codes.add(w["risk_reason"])
    assert any(c.startswith("behaviour-pd") for c in codes), codes


def _run(
    out: Path,
    book: BookInputs,
    risk: RiskBook,
    behaviour: BehaviourBook,
    models: Path,
    as_of: date = AS_OF,
) -> RunContext:
    ctx = RunContext(
        as_of=as_of,
        load=lambda: book,
        sink=ParquetSink(out),
        cache=TemplateCache(),
        load_risk=lambda: risk,
        load_behaviour=lambda: behaviour,
        model_dir=models,
        force=True,
    )
    return run(ctx)


def test_run_scores_counts_bands_and_skips_without_a_model(tmp_path: Path) -> None:
    book, risk, behaviour = _book(31, 300)
    # no model trained: documented skip, tiers without a behaviour score
    ctx = _run(tmp_path / "out", book, risk, behaviour, tmp_path / "models")
    assert "skipped" in ctx.summary["behaviour"]
    assert "loan_scores" not in ctx.extra
    assert ctx.extra["loan_tiers"].num_rows > 0
    without = ctx.fingerprint
    reasons = set(ctx.extra["loan_tiers"].column("risk_reason").to_pylist())
    assert not any(r.startswith("behaviour-p") for r in reasons)
    # a model: scored, written, counted by band with deltas, counted in the fingerprint
    states, history = behaviour_stage.split_history(
        engine.compute_partition(book.loans, book.payments, _templates(book), AS_OF, history=True)
    )
    assert history is not None
    f = behaviour_stage.features(states, history, book.loans, risk, behaviour, AS_OF)
    frame = pd.DataFrame({**f.numeric, **{k: v.to_pylist() for k, v in f.categorical.items()}})
    card: Scorecard = random_card(frame, 31)
    write_artifact(tmp_path / "models", AS_OF, card, {}, "# test card {version}")
    day_before = _run(tmp_path / "b", book, risk, behaviour, tmp_path / "models", date(2025, 6, 29))
    before = day_before.summary["behaviour"]["score_bands"]
    ctx = _run(tmp_path / "b", book, risk, behaviour, tmp_path / "models")
    section = ctx.summary["behaviour"]
    assert section["model_version"].startswith("v1-")
    assert section["scored"] == len(f.loan_id)
    assert sum(section["score_bands"].values()) == section["scored"]
    bands = set(before) | set(section["score_bands"])
    assert section["deltas"]["score_bands"] == {
        b: section["score_bands"].get(b, 0) - before.get(b, 0) for b in sorted(bands)
    }
    assert ctx.fingerprint != without
    written = pq.read_table(tmp_path / "b" / f"as_of={AS_OF}" / "loan_scores.parquet")
    assert written.equals(ctx.extra["loan_scores"])
    assert "seconds" in ctx.summary and "behaviour" in ctx.summary["seconds"]


def _templates(book: BookInputs) -> pa.Table:
    cache = TemplateCache()
    engine.ensure_templates(book.loans, cache, AS_OF)
    return cache.table()


def test_score_kernels_equal_their_numpy_forms() -> None:
    import numpy as np

    from huifang.batch import score_kernel

    rng = np.random.default_rng(5)
    x = rng.choice([np.nan, 0.0, 1.0, 2.5, 3.0, 7.0, -1.0], 5000)
    splits = np.array([0.0, 1.0, 3.0])
    a, b = np.empty(5000, np.int16), np.empty(5000, np.int16)
    score_kernel.numeric_bins(0, 5000, x, splits, 4, a)
    score_kernel._numeric_bins_py(0, 5000, x, splits, 4, b)
    assert (a == b).all() and set(a.tolist()) == {0, 1, 2, 3, 4}
    shortfall = rng.choice([0, 0, 1, 2, 5], (9, 5000)).astype(np.int32)
    c, d = np.empty((4, 5000), np.int64), np.empty((4, 5000), np.int64)
    score_kernel.top_reasons(0, 5000, shortfall, c)
    score_kernel._top_reasons_py(0, 5000, shortfall, d)
    assert (c == d).all() and (c == -1).any()


def test_database_inputs_give_load_histories_features(engine: Engine, tmp_path: Path) -> None:
    """Through the database: the bulk readers and the stage give, for every loan, the
    features `book_features.load_histories` + `features_as_of` give (follow-up rows on
    both sides of the date, local dates, superseded events, valuations)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "model"))
    from test_book_features_followup import T, _fill

    _fill(engine)
    inputs = read_database_inputs(engine)
    risk = read_database_risk(engine)
    behaviour = read_database_behaviour(engine)
    assert behaviour.attempts.num_rows and behaviour.events.num_rows
    cache = TemplateCache()
    engine_mod.ensure_templates(inputs.loans, cache, T)
    states, history = behaviour_stage.split_history(
        engine_mod.compute_partition(inputs.loans, inputs.payments, cache.table(), T, history=True)
    )
    assert history is not None
    f = behaviour_stage.features(states, history, inputs.loans, risk, behaviour, T)
    contract = dict(
        zip(*(inputs.loans.column(c).to_pylist() for c in ("loan_id", "contract_no")), strict=True)
    )
    histories = {h.contract_no: h for h in bf.load_histories(engine, T)}
    assert len(f.loan_id) > 0
    for k, loan_id in enumerate(f.loan_id.tolist()):
        row = bf.features_as_of(histories[contract[loan_id]], T)
        for name in bf.FEATURES:
            column = f.numeric.get(name)
            got = column[k] if column is not None else f.categorical[name][k].as_py()
            want = row[name]
            want = float(want) if isinstance(want, int | bool) else want
            assert _same(got, want), (contract[loan_id], name, got, want)
    # the run on the database: scores written under the run, visible after the swap
    frame = pd.DataFrame({**f.numeric, **{k: v.to_pylist() for k, v in f.categorical.items()}})
    write_artifact(tmp_path / "models", T, random_card(frame, 41), {}, "# test card {version}")
    ctx = run(
        RunContext(
            as_of=T,
            load=lambda: read_database_inputs(engine),
            sink=DatabaseSink(engine),
            cache=TemplateCache(),
            load_risk=lambda: read_database_risk(engine),
            load_behaviour=lambda: read_database_behaviour(engine),
            model_dir=tmp_path / "models",
        )
    )
    with engine.connect() as conn:
        stored = conn.execute(select(BatchLoanScore.loan_id, BatchLoanScore.points)).all()
    want = ctx.extra["loan_scores"].select(["loan_id", "points"]).to_pylist()
    assert sorted((r.loan_id, r.points) for r in stored) == sorted(
        (r["loan_id"], r["points"]) for r in want
    )
    assert len(stored) == ctx.summary["behaviour"]["scored"] == len(f.loan_id)
