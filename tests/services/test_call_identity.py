"""Whom a call verifies: a business borrower registered by its credit code is verified by its
legal representative's name and ID tail, an individual by their own (both DBs)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine, select

from huifang.security import pii
from huifang.services.calls import script_context
from huifang.services.demo_data import write_demo_files
from huifang.services.importing import import_files
from huifang.store.db import transaction, upgrade
from huifang.store.models import Borrower, Loan

AS_OF = date(2026, 6, 30)


def test_script_context_verifies_the_person_on_the_line(engine: Engine, tmp_path: Path) -> None:
    upgrade(engine)
    files = write_demo_files(tmp_path / "demo", loans=60, seed=5, as_of=AS_OF)
    assert import_files(engine, files.paths, write_reports=False).ok
    ring = pii.current_ring()
    seen: set[str] = set()
    with transaction(engine) as s:
        rows = s.execute(select(Loan.id, Borrower).join(Borrower)).all()
        people = {
            loan_id: (b.kind, b.id_type, b.name, b.legal_rep_name, pii.borrower_pii(ring, b))
            for loan_id, b in rows
        }
    for loan_id, (kind, id_type, name, rep_name, plain) in people.items():
        if kind in seen:
            continue
        values = script_context(engine, loan_id, "坐席", AS_OF).values
        if kind == "business":
            assert id_type == "uscc" and plain.legal_rep_id_number
            assert values["id_last4"] == plain.legal_rep_id_number[-4:].upper()
            assert values["borrower_name"] == rep_name and values["company_name"] == name
        else:
            assert values["id_last4"] == plain.id_number[-4:].upper()
            assert values["borrower_name"] == name
        seen.add(kind)
    assert seen == {"business", "individual"}  # the demo book has both kinds
