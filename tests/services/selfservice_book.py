"""A small demo book (forty loans, data date 2026-11-01) on SQLite and on the test PostgreSQL
server, shared by the module that asks for it: the self-service, contact-change,
questionnaire and FAQ service tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from huifang.services import loan_views
from huifang.services.demo_data import write_demo_files
from huifang.services.importing import import_files
from huifang.store.db import make_engine, transaction, upgrade
from huifang.store.models import Loan

AS_OF = date(2026, 11, 1)


def _seed(engine: Engine, tmp: Path) -> Engine:
    files = write_demo_files(tmp / "demo", loans=40, seed=11, as_of=AS_OF)
    report = import_files(engine, files.paths)
    assert report.ok, report.errors[:3]
    return engine


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def book_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    tmp = tmp_path_factory.mktemp("selfservice")
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / 'huifang.db'}")
        upgrade(engine)
        yield _seed(engine, tmp)
        engine.dispose()
        return
    server = request.getfixturevalue("pg_server")
    name = f"s_{uuid.uuid4().hex[:12]}"
    with server.janitor(name, template="huifang_template"):
        engine = make_engine(server.url(name))
        yield _seed(engine, tmp)
        engine.dispose()


def clean_loan(engine: Engine) -> int:
    """An active loan past its lock-in whose installments due before AS_OF were all paid in
    full on their due dates (what `huifang prepay-quote` assumes by default)."""
    with transaction(engine) as s:
        ids = list(s.scalars(select(Loan.id).where(Loan.status == "active").order_by(Loan.id)))
    for loan_id in ids:
        view = loan_views.loan_view(engine, loan_id, AS_OF)
        due = [i for i in view.schedule.installments if i.due_date < AS_OF]
        paid = [(p.paid_on, p.amount) for p in view.payments]
        if due and paid == [(i.due_date, i.payment) for i in due]:
            try:
                loan_views.loan_payoff_quote(engine, loan_id, AS_OF)
            except ValueError:
                continue
            return loan_id
    pytest.skip("no loan paid exactly on schedule in the demo book")


def cli_quote(engine: Engine, loan_id: int, as_of: date = AS_OF) -> dict[str, str]:
    """`huifang prepay-quote --full` for a stored loan's terms (JSON output)."""
    from huifang.cli import app as cli_app

    with transaction(engine) as s:
        loan = s.get(Loan, loan_id)
        assert loan is not None
        p = loan.product
        args = [
            "prepay-quote",
            "--full",
            "--principal",
            str(loan.principal),
            "--rate",
            str(loan.annual_rate * 100),
            "--months",
            str(loan.term_months),
            "--method",
            loan.repayment_method,
            "--start",
            loan.disbursement_date.isoformat(),
            "--as-of",
            as_of.isoformat(),
            "--repayment-day",
            str(loan.repayment_day),
            "--lock-in-months",
            str(p.lock_in_months or 0),
            "--fee-base",
            p.prepayment_fee_basis or "prepaid-principal",
        ]
        if p.prepayment_fee_tiers:
            args += ["--fee-tiers", p.prepayment_fee_tiers]
        if loan.repayment_method == "balloon":
            args += ["--balloon-pct", str(loan.balloon_pct * 100)]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]
