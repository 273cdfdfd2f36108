"""The nightly run with the risk stages end to end: Parquet and database sinks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from batch_portfolios import random_book
from risk_portfolios import random_risk
from sqlalchemy import Engine, func, select

from huifang.batch import risk_reference
from huifang.batch.inputs import BookInputs
from huifang.batch.output import DatabaseSink, ParquetSink
from huifang.batch.risk_inputs import RiskBook, read_parquet_risk, write_parquet_risk
from huifang.batch.runner import RunContext, run
from huifang.batch.templates import TemplateCache
from huifang.risk_rules import load_tier_settings
from huifang.store.batch_models import BatchRun
from huifang.store.batch_risk_models import BatchLoanCollateral, BatchLoanTier
from huifang.valuation_params import load_valuation_params

AS_OF = date(2025, 6, 30)


def _run(book: BookInputs, risk: RiskBook | None, sink, as_of: date = AS_OF, force: bool = False):  # type: ignore[no-untyped-def]
    ctx = RunContext(
        as_of=as_of,
        load=lambda: book,
        load_risk=lambda: risk,
        sink=sink,
        cache=TemplateCache(),
        force=force,
    )
    return run(ctx)


def test_parquet_run_writes_risk_tables_identically(tmp_path: Path) -> None:
    book = random_book(250, 31, AS_OF)
    risk = random_risk(book.loans, 31, AS_OF)
    write_parquet_risk(risk, tmp_path / "in")
    risk = read_parquet_risk(tmp_path / "in")
    assert risk is not None
    ctx = _run(book, risk, ParquetSink(tmp_path / "out"))
    folder = tmp_path / "out" / f"as_of={AS_OF}"
    first = {n: (folder / f"{n}.parquet").read_bytes() for n in ("loan_collateral", "loan_tiers")}
    assert _run(book, risk, ParquetSink(tmp_path / "out")).skipped is not None
    _run(book, risk, ParquetSink(tmp_path / "out"), force=True)
    assert first == {n: (folder / f"{n}.parquet").read_bytes() for n in first}
    # the rows are the per-loan domain's
    assert ctx.states is not None
    coll = pq.read_table(folder / "loan_collateral.parquet")
    want = risk_reference.collateral_rows(
        ctx.states, book.loans, risk, AS_OF, load_valuation_params()
    )
    got = {r["loan_id"]: r for r in coll.to_pylist()}
    for loan_id, w in want.items():
        expected = None if w is None else w["vehicle_value"]
        assert got[loan_id]["vehicle_value"] == expected
    tiers = pq.read_table(folder / "loan_tiers.parquet")
    settings = load_tier_settings()
    ltvs = {r["loan_id"]: r["ltv"] for r in coll.to_pylist()}
    want_t = risk_reference.tier_rows(
        ctx.states, book.loans, risk, ltvs, AS_OF, settings.origination, settings.risk
    )
    assert {r["loan_id"]: r["risk_tier"] for r in tiers.to_pylist()} == {
        k: v["risk_tier"] for k, v in want_t.items() if v is not None
    }
    summary = ctx.summary
    assert sum(summary["tiers"]["risk"].values()) == tiers.num_rows
    assert summary["collateral"]["valued"] + summary["collateral"]["not_valued"] == coll.num_rows
    # the fingerprint covers the risk inputs: another car changes it
    other = random_risk(book.loans, 32, AS_OF)
    ctx2 = _run(book, other, ParquetSink(tmp_path / "other"))
    assert ctx2.fingerprint != ctx.fingerprint


def test_database_run_commits_risk_rows_with_the_run(engine: Engine) -> None:
    book = random_book(120, 33, AS_OF)
    risk = random_risk(book.loans, 33, AS_OF)
    earlier = date(2025, 5, 31)
    _run(book, risk, DatabaseSink(engine), as_of=earlier)
    ctx = _run(book, risk, DatabaseSink(engine))
    with engine.connect() as conn:
        runs = conn.execute(
            select(BatchRun.id, BatchRun.as_of).where(BatchRun.status == "committed")
        ).all()
        assert len(runs) == 2
        run_id = next(r.id for r in runs if r.as_of == AS_OF)
        n_coll = conn.scalar(select(func.count()).where(BatchLoanCollateral.run_id == run_id))
        tiers = dict(
            conn.execute(
                select(BatchLoanTier.loan_id, BatchLoanTier.risk_tier).where(
                    BatchLoanTier.run_id == run_id
                )
            ).all()
        )
    assert ctx.states is not None and n_coll == ctx.states.num_rows
    assert tiers == dict(
        zip(
            *(ctx.extra["loan_tiers"].column(c).to_pylist() for c in ("loan_id", "risk_tier")),
            strict=True,
        )
    )
    # deltas from the previous run's tiers and bands
    assert "deltas" in ctx.summary["tiers"] and "deltas" in ctx.summary["collateral"]
    # forced again: the old run's rows go with it, only committed runs keep rows
    _run(book, risk, DatabaseSink(engine), force=True)
    committed = select(BatchRun.id).where(BatchRun.status == "committed")
    earlier_rows = len(ctx_earlier_tiers(engine, earlier))
    with engine.connect() as conn:
        for model in (BatchLoanTier, BatchLoanCollateral):
            orphans = conn.scalar(
                select(func.count()).select_from(model).where(model.run_id.not_in(committed))
            )
            assert orphans == 0
        total = conn.scalar(select(func.count()).select_from(BatchLoanTier))
    assert earlier_rows > 0 and total == len(tiers) + earlier_rows


def ctx_earlier_tiers(engine: Engine, as_of: date) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                select(BatchLoanTier.loan_id)
                .join(BatchRun, BatchRun.id == BatchLoanTier.run_id)
                .where(BatchRun.as_of == as_of, BatchRun.status == "committed")
            )
        )
