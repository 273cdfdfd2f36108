"""Portfolio filters of the loan search: DPD bucket, five-category class, risk tier and LTV
band as of the latest committed nightly run, plus product and disbursement dates — the same
filter object for the page, the API and the Excel export, in the caller's branches only."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from web_helpers import HOME, login_client

from huifang.cli_run import nightly_run
from huifang.services import loan_views
from huifang.store.batch_models import BatchLoanState, BatchRun
from huifang.store.batch_risk_models import BatchLoanCollateral, BatchLoanTier
from huifang.store.db import transaction
from huifang.store.models import Branch, Loan, Product
from huifang.web.app import create_app

AS_OF = date(2026, 11, 1)


def _reference(engine):  # type: ignore[no-untyped-def]
    """Each home-branch loan's figures in the committed run, read row by row."""
    with transaction(engine) as s:
        run_id = s.scalar(select(BatchRun.id).where(BatchRun.status == "committed"))
        rows = s.execute(
            select(
                Loan.contract_no,
                Product.code,
                Loan.disbursement_date,
                BatchLoanState.bucket,
                BatchLoanState.loan_class,
                BatchLoanTier.risk_tier,
                BatchLoanCollateral.ltv_band,
            )
            .join(Branch, Branch.id == Loan.branch_id)
            .join(Product, Product.id == Loan.product_id)
            .join(
                BatchLoanState,
                (BatchLoanState.loan_id == Loan.id) & (BatchLoanState.run_id == run_id),
            )
            .outerjoin(
                BatchLoanTier,
                (BatchLoanTier.loan_id == Loan.id) & (BatchLoanTier.run_id == run_id),
            )
            .outerjoin(
                BatchLoanCollateral,
                (BatchLoanCollateral.loan_id == Loan.id) & (BatchLoanCollateral.run_id == run_id),
            )
            .where(Branch.code == HOME)
        ).all()
    return rows


def test_portfolio_filters_page_api_and_export_agree(  # type: ignore[no-untyped-def]
    book, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(book.engine)
    officer, _ = login_client(app, "risk")
    # before any nightly run the portfolio filters are refused, the others work
    r = officer.get("/api/v1/loans", params={"bucket": "M0"})
    assert r.status_code == 422 and "nightly run" in r.json()["error"]["en"]
    assert officer.get("/api/v1/loans", params={"product": "none"}).json()["total"] == 0

    monkeypatch.setenv("HUIFANG_DATABASE_URL", book.url)
    nightly_run(AS_OF)
    rows = _reference(book.engine)
    assert rows, "the run has the home branch's loans"

    def contracts(**params: str) -> set[str]:
        got = officer.get("/api/v1/loans", params={**params, "limit": "200"}).json()
        assert got["portfolio_as_of"] == AS_OF.isoformat()
        assert len(got["items"]) == got["total"]
        return {i["contract_no"] for i in got["items"]}

    for column, key in ((3, "bucket"), (4, "loan_class"), (5, "risk_tier"), (6, "ltv_band")):
        counts = Counter(r[column] for r in rows if r[column] is not None)
        assert counts, f"the run gives {key}"
        for value in counts:
            expected = {r[0] for r in rows if r[column] == value}
            assert contracts(**{key: value}) == expected, (key, value)

    # combined: a product and a disbursement window with a bucket
    product = rows[0][1]
    start = min(r[2] for r in rows)
    first_bucket = rows[0][3]
    expected = {r[0] for r in rows if r[1] == product and r[3] == first_bucket and r[2] >= start}
    params = {
        "product": product,
        "bucket": first_bucket,
        "disbursed_from": start.isoformat(),
        "disbursed_to": AS_OF.isoformat(),
    }
    assert contracts(**params) == expected
    late = max(r[2] for r in rows)
    assert contracts(disbursed_from=late.isoformat()) == {r[0] for r in rows if r[2] >= late}

    # the page shows the same rows with the run's figures; the export has them all
    page = officer.get("/loans", params=params)
    assert page.status_code == 200 and 'id="portfolio-filters"' in page.text
    assert all(c in page.text for c in expected)
    xlsx = officer.get("/loans", params={**params, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    header = [c.value for c in sheet[1]]
    assert "逾期档位" in header and "五级分类" in header
    exported = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert exported == expected
    bucket_col = header.index("逾期档位")
    assert {row[bucket_col] for row in sheet.iter_rows(min_row=2, values_only=True)} <= {
        first_bucket
    }

    # bad values are refused in both languages; another branch is still refused
    bad = officer.get("/api/v1/loans", params={"loan_class": "优秀"})
    assert bad.status_code == 422 and bad.json()["error"]["zh"]
    assert officer.get("/api/v1/loans", params={"disbursed_from": "2026-13-01"}).status_code == 422
    assert officer.get("/loans", params={"bucket": "M9"}).status_code == 422
    assert (
        officer.get("/api/v1/loans", params={"branch": "GZ01", "bucket": "M0"}).status_code == 403
    )


def test_filter_object_is_validated() -> None:
    with pytest.raises(loan_views.LoanFilterError):
        loan_views.LoanFilter(risk_tier="extreme")
    with pytest.raises(loan_views.LoanFilterError):
        loan_views.LoanFilter(disbursed_from=date(2026, 2, 1), disbursed_to=date(2026, 1, 1))
    assert loan_views.LoanFilter(bucket="M6+", loan_class="损失").portfolio
    assert not loan_views.LoanFilter(q="x", product="p").portfolio
